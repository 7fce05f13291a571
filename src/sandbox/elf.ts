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

/**
 * Reads PT_INTERP and DT_NEEDED of a 64-bit little-endian ELF file, so the sandbox can bind
 * exactly the libraries node links against and nothing else.
 */
export function readElfDeps(file: string): ElfDeps {
  const data = fs.readFileSync(file);
  if (data.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`);
  if (data[4] !== 2 || data[5] !== 1) throw new Error(`${file} is not a 64-bit little-endian ELF file`);
  const phoff = Number(data.readBigUInt64LE(0x20));
  const phentsize = data.readUInt16LE(0x36);
  const phnum = data.readUInt16LE(0x38);
  const loads: { vaddr: bigint; offset: bigint; filesz: bigint }[] = [];
  let interpreter: string | undefined;
  let dynamic: { offset: number; size: number } | undefined;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    const type = data.readUInt32LE(at);
    const offset = data.readBigUInt64LE(at + 8);
    const vaddr = data.readBigUInt64LE(at + 16);
    const filesz = data.readBigUInt64LE(at + 32);
    if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
    if (type === PT_INTERP) interpreter = data.toString('latin1', Number(offset), Number(offset + filesz)).replace(/\0.*$/s, '');
    if (type === PT_DYNAMIC) dynamic = { offset: Number(offset), size: Number(filesz) };
  }
  if (!dynamic) return { interpreter, needed: [] };
  const toOffset = (vaddr: bigint): number => {
    const segment = loads.find((l) => vaddr >= l.vaddr && vaddr < l.vaddr + l.filesz);
    if (!segment) throw new Error(`${file}: address 0x${vaddr.toString(16)} is in no loaded segment`);
    return Number(vaddr - segment.vaddr + segment.offset);
  };
  const neededOffsets: bigint[] = [];
  let strtab: bigint | undefined;
  for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size; at += 16) {
    const tag = data.readBigInt64LE(at);
    const value = data.readBigUInt64LE(at + 8);
    if (tag === DT_NULL) break;
    if (tag === DT_NEEDED) neededOffsets.push(value);
    if (tag === DT_STRTAB) strtab = value;
  }
  if (strtab === undefined) return { interpreter, needed: [] };
  const base = toOffset(strtab);
  const needed = neededOffsets.map((off) => {
    const start = base + Number(off);
    return data.toString('latin1', start, data.indexOf(0, start));
  });
  return { interpreter, needed };
}
