/** A guest pointer or length that falls outside linear memory; WASI calls turn it into EFAULT. */
export class Fault extends Error {
  override name = 'Fault';

  constructor(message: string) {
    // No stack: the shim catches it at once, and capturing one through wasm frames costs tens of µs.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
  }
}

/**
 * Bounds-checked access to a module's linear memory. The views are refreshed when the memory grows
 * (growing detaches the old ArrayBuffer), and every access is checked so a bad guest pointer becomes
 * a `Fault` rather than a RangeError that could be mistaken for a stack overflow.
 */
export class GuestMemory {
  #memory: WebAssembly.Memory | undefined;
  #buffer: ArrayBuffer | undefined;
  #view = new DataView(new ArrayBuffer(0));
  #bytes = new Uint8Array(0);

  attach(memory: WebAssembly.Memory | undefined): void {
    this.#memory = memory;
  }

  #refresh(): void {
    if (this.#memory === undefined) throw new Fault('the module exports no memory');
    const buffer = this.#memory.buffer;
    if (buffer !== this.#buffer) {
      this.#buffer = buffer;
      this.#view = new DataView(buffer);
      this.#bytes = new Uint8Array(buffer);
    }
  }

  /** Checks `[ptr, ptr + length)` and returns `ptr` as unsigned: wasm hands i32 values to JS signed. */
  #at(ptr: number, length: number): number {
    this.#refresh();
    const start = ptr >>> 0;
    const end = start + (length >>> 0);
    if (end > this.#bytes.byteLength) throw new Fault(`[${start}, ${end}) is outside memory of ${this.#bytes.byteLength} bytes`);
    return start;
  }

  /** A live view of `length` bytes at `ptr`: copy it before memory can change. */
  bytes(ptr: number, length: number): Uint8Array {
    const start = this.#at(ptr, length);
    return this.#bytes.subarray(start, start + (length >>> 0));
  }

  u8(ptr: number): number {
    const at = this.#at(ptr, 1);
    return this.#view.getUint8(at);
  }

  u16(ptr: number): number {
    const at = this.#at(ptr, 2);
    return this.#view.getUint16(at, true);
  }

  u32(ptr: number): number {
    const at = this.#at(ptr, 4);
    return this.#view.getUint32(at, true);
  }

  setU8(ptr: number, value: number): void {
    const at = this.#at(ptr, 1);
    this.#view.setUint8(at, value);
  }

  setU16(ptr: number, value: number): void {
    const at = this.#at(ptr, 2);
    this.#view.setUint16(at, value, true);
  }

  setU32(ptr: number, value: number): void {
    const at = this.#at(ptr, 4);
    this.#view.setUint32(at, value, true);
  }

  u64(ptr: number): bigint {
    const at = this.#at(ptr, 8);
    return this.#view.getBigUint64(at, true);
  }

  setU64(ptr: number, value: bigint): void {
    const at = this.#at(ptr, 8);
    this.#view.setBigUint64(at, BigInt.asUintN(64, value), true);
  }

  /** Zeroes `length` bytes at `ptr` (structs the shim fills only partly). */
  zero(ptr: number, length: number): void {
    this.bytes(ptr, length).fill(0);
  }
}
