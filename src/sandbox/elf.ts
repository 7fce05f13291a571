import fs from 'node:fs';

/** What the dynamic loader needs to start an ELF executable or library. */
export interface ElfDeps {
  /** PT_INTERP, the ELF interpreter (the dynamic loader), if any. */
  interpreter: string | undefined;
  /** DT_NEEDED names, in order. */
  needed: string[];
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
/** Bounds on what one file may make us read: a path, a name, the program headers, the dynamic section. */
const MAX_STRING = 4096;
const MAX_TABLE = 1 << 20;

/** Positioned reads of an open file: only the bytes asked for, never the whole file. */
class ElfFile {
  constructor(
    readonly name: string,
    private readonly fd: number,
  ) {}

  read(offset: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const n = fs.readSync(this.fd, out, got, length - got, offset + got);
      if (n === 0) throw new Error(`${this.name}: truncated at byte ${offset + got}`);
      got += n;
    }
    return out;
  }

  /** The NUL-terminated string at `offset`. */
  string(offset: number): string {
    const chunk = Buffer.alloc(MAX_STRING);
    const n = fs.readSync(this.fd, chunk, 0, MAX_STRING, offset);
    const end = chunk.subarray(0, n).indexOf(0);
    if (end < 0) throw new Error(`${this.name}: no string ends within ${MAX_STRING} bytes of byte ${offset}`);
    return chunk.toString('latin1', 0, end);
  }
}

/**
 * Reads PT_INTERP and DT_NEEDED of a 64-bit little-endian ELF file, so the sandbox can bind
 * exactly the libraries node links against and nothing else. Reads the headers, the dynamic
 * section and the names only: node's binary is about 100 MB, and reading it whole cost the first
 * worker spawn of every host a second of page faults on a small VM.
 */
export function readElfDeps(file: string): ElfDeps {
  const fd = fs.openSync(file, 'r');
  try {
    return readDeps(new ElfFile(file, fd));
  } finally {
    fs.closeSync(fd);
  }
}

function readDeps(elf: ElfFile): ElfDeps {
  const head = elf.read(0, 64);
  if (head.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${elf.name} is not an ELF file`);
  if (head[4] !== 2 || head[5] !== 1) throw new Error(`${elf.name} is not a 64-bit little-endian ELF file`);
  const phoff = Number(head.readBigUInt64LE(0x20));
  const phentsize = head.readUInt16LE(0x36);
  const phnum = head.readUInt16LE(0x38);
  if (phentsize < 56 || phentsize * phnum > MAX_TABLE) throw new Error(`${elf.name}: bad program header table`);
  const table = elf.read(phoff, phentsize * phnum);
  const loads: { vaddr: bigint; offset: bigint; filesz: bigint }[] = [];
  let interpreter: string | undefined;
  let dynamic: { offset: number; size: number } | undefined;
  for (let i = 0; i < phnum; i++) {
    const at = i * phentsize;
    const type = table.readUInt32LE(at);
    const offset = table.readBigUInt64LE(at + 8);
    const vaddr = table.readBigUInt64LE(at + 16);
    const filesz = table.readBigUInt64LE(at + 32);
    if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
    if (type === PT_INTERP) interpreter = elf.string(Number(offset));
    if (type === PT_DYNAMIC) dynamic = { offset: Number(offset), size: Math.min(Number(filesz), MAX_TABLE) };
  }
  if (!dynamic) return { interpreter, needed: [] };
  const toOffset = (vaddr: bigint): number => {
    const segment = loads.find((l) => vaddr >= l.vaddr && vaddr < l.vaddr + l.filesz);
    if (!segment) throw new Error(`${elf.name}: address 0x${vaddr.toString(16)} is in no loaded segment`);
    return Number(vaddr - segment.vaddr + segment.offset);
  };
  const section = elf.read(dynamic.offset, dynamic.size - (dynamic.size % 16));
  const neededOffsets: bigint[] = [];
  let strtab: bigint | undefined;
  for (let at = 0; at + 16 <= section.byteLength; at += 16) {
    const tag = section.readBigInt64LE(at);
    const value = section.readBigUInt64LE(at + 8);
    if (tag === DT_NULL) break;
    if (tag === DT_NEEDED) neededOffsets.push(value);
    if (tag === DT_STRTAB) strtab = value;
  }
  if (strtab === undefined) return { interpreter, needed: [] };
  const base = toOffset(strtab);
  return { interpreter, needed: neededOffsets.map((off) => elf.string(base + Number(off))) };
}
