;; upper — the `run` ABI *without* `alloc`: the host places the input at the
;; exported global `__heap_base` (growing memory first if the input does not fit),
;; and the module upper-cases ASCII letters in place and returns the same region.
;;
;;   input  "Hello, warden! 123 é"  ->  output "HELLO, WARDEN! 123 é"
;;   (bytes >= 0x80 are left alone, so UTF-8 passes through unchanged)
;;
;; exports memory, __heap_base (immutable i32 global), run; no imports; MVP only.
;; The memory starts at one page, so an input larger than 64 KiB - 1 KiB exercises
;; the host's "grow before copying to __heap_base" path.
(module
  (memory (export "memory") 1)
  (global (export "__heap_base") i32 (i32.const 1024))

  (func (export "run") (param $ptr i32) (param $len i32) (result i64)
    (local $p i32) (local $end i32) (local $c i32)
    (local.set $p (local.get $ptr))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        ;; 'a' <= c <= 'z'  <=>  (c - 'a') <u 26
        (if (i32.lt_u (i32.sub (local.get $c) (i32.const 97)) (i32.const 26))
          (then (i32.store8 (local.get $p) (i32.sub (local.get $c) (i32.const 32)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (i64.or
      (i64.extend_i32_u (local.get $ptr))
      (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 32)))))
