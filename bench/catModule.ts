/**
 * Row 11's WASI modules, written in WebAssembly text: they do nothing but move bytes, so what the
 * row measures is warden's data path.
 * - `cat`: reads stdin in 128 KiB chunks (coreutils' cat buffer) and writes each to stdout;
 * - `drain`: reads stdin to its end and writes nothing (the way in alone);
 * - `source`: writes 16 MiB of its memory to stdout, 128 KiB at a time (the way out alone).
 */
import initWabt from 'wabt';

/** The chunk cat reads and writes at a time. */
export const CAT_CHUNK_BYTES = 128 * 1024;

/** What `source` writes. */
export const SOURCE_BYTES = 16 * 1024 * 1024;

const MODULES = {
  cat: true,
  drain: false,
} as const;

const catWat = (write: boolean): string => `(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 3)
  ;; iovec at 0 (buf, len), count at 8, buffer at 65536
  (func (export "_start")
    (local $n i32)
    (loop $more
      (i32.store (i32.const 0) (i32.const 65536))
      (i32.store (i32.const 4) (i32.const ${CAT_CHUNK_BYTES}))
      (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
      (local.set $n (i32.load (i32.const 8)))
      (if (i32.eqz (local.get $n)) (then return))
      (i32.store (i32.const 4) (local.get $n))
      ${write ? '' : ';;'} (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
      ${write ? '' : ';;'} (if (i32.ne (i32.load (i32.const 8)) (local.get $n)) (then unreachable))
      (br $more))))`;

const SOURCE_WAT = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 3)
  (func (export "_start")
    (local $left i32)
    (local.set $left (i32.const ${SOURCE_BYTES / CAT_CHUNK_BYTES}))
    (loop $more
      (i32.store (i32.const 0) (i32.const 65536))
      (i32.store (i32.const 4) (i32.const ${CAT_CHUNK_BYTES}))
      (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
      (local.set $left (i32.sub (local.get $left) (i32.const 1)))
      (br_if $more (local.get $left)))))`;

/** One of the row's modules, assembled. */
export async function byteModule(name: 'cat' | 'drain' | 'source'): Promise<Uint8Array> {
  const wabt = await initWabt();
  const module = wabt.parseWat(`${name}.wat`, name === 'source' ? SOURCE_WAT : catWat(MODULES[name]));
  try {
    return new Uint8Array(module.toBinary({}).buffer);
  } finally {
    module.destroy();
  }
}
