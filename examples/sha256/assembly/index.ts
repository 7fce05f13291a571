// sha256 — SHA-256 (FIPS 180-4) of the input, written out as 64 lowercase hex chars.
//
// warden `run` ABI: exports memory, alloc(len) -> ptr, run(ptr, len) -> i64 where the
// result packs ptr | (len << 32). No imports: the build passes
// `--use abort=<this file>/wardenAbort`, so a failed assertion or a too-large
// allocation traps instead of calling the default `env.abort` import.
//
// Built with `--runtime stub`: a bump allocator that never frees, so the output
// buffer returned by `run` stays valid until the host has read it (the instance is
// thrown away after one job anyway).

// Round constants: first 32 bits of the fractional parts of the cube roots of the
// first 64 primes. Kept in static memory (no runtime objects).
const K: usize = memory.data<u32>([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

// Message schedule (64 words) and the padded tail (at most two blocks).
const W: usize = memory.data(64 * 4, 4);
const TAIL: usize = memory.data(128, 8);
// Hash state H0..H7.
const H: usize = memory.data(8 * 4, 4);

const HEX: usize = memory.data<u8>([
  0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, // 0-9
  0x61, 0x62, 0x63, 0x64, 0x65, 0x66, // a-f
]);

// Replaces the default `abort` (an `env.abort` import) through `--use abort=...`.
// eslint-disable-next-line @typescript-eslint/no-unused-vars
function wardenAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  unreachable();
}

@inline
function word(i: usize): u32 {
  return load<u32>(W + (i << 2));
}

// Compress one 64-byte block at `p` into the state at H.
function block(p: usize): void {
  for (let i: usize = 0; i < 16; i++) {
    store<u32>(W + (i << 2), bswap<u32>(load<u32>(p + (i << 2))));
  }
  for (let i: usize = 16; i < 64; i++) {
    const w15 = word(i - 15);
    const w2 = word(i - 2);
    const s0 = rotr<u32>(w15, 7) ^ rotr<u32>(w15, 18) ^ (w15 >>> 3);
    const s1 = rotr<u32>(w2, 17) ^ rotr<u32>(w2, 19) ^ (w2 >>> 10);
    store<u32>(W + (i << 2), word(i - 16) + s0 + word(i - 7) + s1);
  }

  let a = load<u32>(H, 0);
  let b = load<u32>(H, 4);
  let c = load<u32>(H, 8);
  let d = load<u32>(H, 12);
  let e = load<u32>(H, 16);
  let f = load<u32>(H, 20);
  let g = load<u32>(H, 24);
  let h = load<u32>(H, 28);

  for (let i: usize = 0; i < 64; i++) {
    const S1 = rotr<u32>(e, 6) ^ rotr<u32>(e, 11) ^ rotr<u32>(e, 25);
    const ch = (e & f) ^ (~e & g);
    const t1 = h + S1 + ch + load<u32>(K + (i << 2)) + word(i);
    const S0 = rotr<u32>(a, 2) ^ rotr<u32>(a, 13) ^ rotr<u32>(a, 22);
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = S0 + maj;
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }

  store<u32>(H, load<u32>(H, 0) + a, 0);
  store<u32>(H, load<u32>(H, 4) + b, 4);
  store<u32>(H, load<u32>(H, 8) + c, 8);
  store<u32>(H, load<u32>(H, 12) + d, 12);
  store<u32>(H, load<u32>(H, 16) + e, 16);
  store<u32>(H, load<u32>(H, 20) + f, 20);
  store<u32>(H, load<u32>(H, 24) + g, 24);
  store<u32>(H, load<u32>(H, 28) + h, 28);
}

/** Allocates `len` bytes for the input. Never freed (stub runtime). */
export function alloc(len: i32): i32 {
  if (len < 0) unreachable();
  return <i32>heap.alloc(<usize>len);
}

/** SHA-256 of memory[ptr, ptr+len) as 64 lowercase hex chars; returns ptr | (64 << 32). */
export function run(ptr: i32, len: i32): i64 {
  const base = <usize>ptr;
  const n = <usize>len;

  // Initial hash value: fractional parts of the square roots of the first 8 primes.
  store<u32>(H, 0x6a09e667, 0);
  store<u32>(H, 0xbb67ae85, 4);
  store<u32>(H, 0x3c6ef372, 8);
  store<u32>(H, 0xa54ff53a, 12);
  store<u32>(H, 0x510e527f, 16);
  store<u32>(H, 0x9b05688c, 20);
  store<u32>(H, 0x1f83d9ab, 24);
  store<u32>(H, 0x5be0cd19, 28);

  // Whole blocks straight from the input.
  const full = n & ~(<usize>63);
  for (let off: usize = 0; off < full; off += 64) block(base + off);

  // Tail: the remaining bytes, 0x80, zeros, then the bit length as big-endian u64.
  const rest = n - full;
  memory.fill(TAIL, 0, 128);
  memory.copy(TAIL, base + full, rest);
  store<u8>(TAIL + rest, 0x80);
  const tailLen: usize = rest < 56 ? 64 : 128;
  const bits = (<u64>n) << 3;
  store<u64>(TAIL + tailLen - 8, bswap<u64>(bits));
  block(TAIL);
  if (tailLen == 128) block(TAIL + 64);

  // Hex digest.
  const out = heap.alloc(64);
  for (let i: usize = 0; i < 32; i++) {
    const byte = <u32>load<u8>(H + ((i & ~3) | (3 - (i & 3)))); // big-endian byte i of the state
    store<u8>(out + (i << 1), load<u8>(HEX + (byte >>> 4)));
    store<u8>(out + (i << 1) + 1, load<u8>(HEX + (byte & 15)));
  }
  return <i64>((<u64>out) | ((<u64>64) << 32));
}
