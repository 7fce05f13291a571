;; hello — the smallest useful module for warden's `run` ABI.
;;
;;   input  "world"  ->  output "Hello, world!"
;;   input  ""       ->  output "Hello, world!"   (empty input greets the world)
;;
;; One trailing "\n" (or "\r\n") of the input is dropped, so `echo world > in.txt`
;; works as well as `printf world > in.txt`.
;;
;; ABI (see examples/README.md):
;;   exports memory, alloc(len: i32) -> i32, run(ptr: i32, len: i32) -> i64
;;   result = ptr | (len << 32)
;;   no imports; MVP instructions only (no bulk memory), so any validator accepts it.
(module
  (memory (export "memory") 1)

  ;; constant strings, below the heap
  (data (i32.const 16) "Hello, ")   ;; 7 bytes at 16
  (data (i32.const 32) "world")     ;; 5 bytes at 32
  (data (i32.const 48) "!")         ;; 1 byte  at 48

  ;; bump allocator: never frees, so the output stays valid until the instance is dropped
  (global $heap (mut i32) (i32.const 1024))

  (func $alloc (export "alloc") (param $len i32) (result i32)
    (local $ptr i32) (local $end i32) (local $need i32)
    ;; ptr = align8(heap)
    (local.set $ptr
      (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    ;; overflow of the 32-bit address space -> trap
    (if (i32.lt_u (local.get $end) (local.get $ptr)) (then unreachable))
    ;; grow memory when the block does not fit
    (if (i32.gt_u (local.get $end)
                  (i32.shl (memory.size) (i32.const 16)))
      (then
        (local.set $need
          (i32.sub
            (i32.shr_u (i32.add (local.get $end) (i32.const 0xffff)) (i32.const 16))
            (memory.size)))
        (if (i32.eq (memory.grow (local.get $need)) (i32.const -1))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  ;; copy $n bytes from $src to $dst (non-overlapping), byte by byte
  (func $copy (param $dst i32) (param $src i32) (param $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (i32.store8 (local.get $dst) (i32.load8_u (local.get $src)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next))))

  (func $run (export "run") (param $ptr i32) (param $len i32) (result i64)
    (local $out i32) (local $outlen i32)
    ;; drop one trailing "\n" and then one trailing "\r"
    (if (i32.and (i32.gt_u (local.get $len) (i32.const 0))
                 (i32.eq (i32.load8_u (i32.sub (i32.add (local.get $ptr) (local.get $len)) (i32.const 1)))
                         (i32.const 10)))
      (then (local.set $len (i32.sub (local.get $len) (i32.const 1)))))
    (if (i32.and (i32.gt_u (local.get $len) (i32.const 0))
                 (i32.eq (i32.load8_u (i32.sub (i32.add (local.get $ptr) (local.get $len)) (i32.const 1)))
                         (i32.const 13)))
      (then (local.set $len (i32.sub (local.get $len) (i32.const 1)))))
    ;; empty name -> "world"
    (if (i32.eqz (local.get $len))
      (then (local.set $ptr (i32.const 32)) (local.set $len (i32.const 5))))
    ;; out = "Hello, " + name + "!"
    (local.set $outlen (i32.add (local.get $len) (i32.const 8)))
    (local.set $out (call $alloc (local.get $outlen)))
    (call $copy (local.get $out) (i32.const 16) (i32.const 7))
    (call $copy (i32.add (local.get $out) (i32.const 7)) (local.get $ptr) (local.get $len))
    (i32.store8 (i32.add (local.get $out) (i32.add (local.get $len) (i32.const 7)))
                (i32.load8_u (i32.const 48)))
    ;; ptr | (len << 32)
    (i64.or
      (i64.extend_i32_u (local.get $out))
      (i64.shl (i64.extend_i32_u (local.get $outlen)) (i64.const 32)))))
