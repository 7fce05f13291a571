/**
 * Rewrites of a module: the limits of memories and tables in place of their declared ones (only
 * the limits bytes and the size of the sections holding them change; every other byte is copied
 * as is), and its memory turned into an import.
 */
import { encodeU32, ExternalKind, readSections, SectionId, sectionReader, type Limits, type Section } from './wasmReader.js';

/** The limits encoded at `bytes[start, end)`, to be bounded by `limit`. */
export interface Clamp {
  start: number;
  end: number;
  limits: Limits;
  limit: number;
}

function needsClamp(clamp: Clamp): boolean {
  return clamp.limits.maximum === undefined || clamp.limits.maximum > clamp.limit;
}

function encodeClamped({ limits, limit }: Clamp): number[] {
  const maximum = Math.min(limits.maximum ?? Infinity, limit);
  return [0x01, ...encodeU32(limits.initial), ...encodeU32(maximum)];
}

/** The section with its clamped limits substituted and its size re-encoded. */
function rewriteSection(bytes: Uint8Array, section: Section, clamps: Clamp[]): Uint8Array[] {
  const content: Uint8Array[] = [];
  let offset = section.contentStart;
  for (const clamp of clamps) {
    content.push(bytes.subarray(offset, clamp.start), Uint8Array.from(encodeClamped(clamp)));
    offset = clamp.end;
  }
  content.push(bytes.subarray(offset, section.end));
  const size = content.reduce((sum, part) => sum + part.byteLength, 0);
  return [Uint8Array.from([section.id, ...encodeU32(size)]), ...content];
}

/**
 * Returns the module with each clamp applied: the maximum becomes `min(declared, limit)`, and a
 * missing maximum becomes `limit`. Returns `bytes` itself when nothing needs to change.
 */
export function clampLimits(bytes: Uint8Array, sections: readonly Section[], clamps: readonly Clamp[]): Uint8Array {
  const pending = clamps.filter(needsClamp).sort((a, b) => a.start - b.start);
  if (pending.length === 0) return bytes;
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const section of sections) {
    const inside = pending.filter((clamp) => clamp.start >= section.contentStart && clamp.end <= section.end);
    if (inside.length === 0) continue;
    parts.push(bytes.subarray(offset, section.start), ...rewriteSection(bytes, section, inside));
    offset = section.end;
  }
  parts.push(bytes.subarray(offset));
  return Buffer.concat(parts);
}

/**
 * The module without its section of `id` (a known, non-custom one), or `bytes` itself when it has
 * none. Removing the start section leaves every index of the module as it was.
 */
export function withoutSection(bytes: Uint8Array, sections: readonly Section[], id: number): Uint8Array {
  const section = sections.find((s) => s.id === id);
  if (section === undefined) return bytes;
  return Buffer.concat([bytes.subarray(0, section.start), bytes.subarray(section.end)]);
}

/**
 * Where a module rewritten by `memoryAsImport` finds its memory. The name is warden's own: prepare
 * refuses every import but the WASI functions, so no module can declare it.
 */
export const MEMORY_IMPORT = { module: 'warden:memory', name: 'memory' } as const;

function encodeName(name: string): number[] {
  const bytes = Buffer.from(name, 'utf8');
  return [...encodeU32(bytes.byteLength), ...bytes];
}

/**
 * The module with its one defined memory turned into an import (`MEMORY_IMPORT`) of the same
 * initial size and a maximum clamped to `maxPages` (the execute limit may be lower than the one
 * the module was prepared under; a missing maximum becomes `maxPages`), so that a job's memory
 * can be given to it rather than created by it; and that memory's limits, `undefined` (and
 * `bytes` itself) for a module without memory. Memory indices do not move (the module imports no
 * other memory: `prevalidate` allows function imports only), nor does any function index (a
 * memory import is not a function); the data segments are still written into that memory at
 * instantiation. `bytes` must have passed `prevalidate` (at most one 32-bit unshared memory).
 */
export function memoryAsImport(bytes: Uint8Array, maxPages: number): { bytes: Uint8Array; memory: { initial: number; maximum: number } | undefined } {
  const sections = readSections(bytes);
  const memorySection = sections.find((s) => s.id === SectionId.memory);
  if (memorySection === undefined) return { bytes, memory: undefined };
  const reader = sectionReader(bytes, memorySection);
  if (reader.u32() === 0) return { bytes, memory: undefined };
  const declared = reader.limits();
  const memory = { initial: declared.initial, maximum: Math.min(declared.maximum ?? Infinity, maxPages) };
  const entry = [
    ...encodeName(MEMORY_IMPORT.module),
    ...encodeName(MEMORY_IMPORT.name),
    ExternalKind.memory,
    0x01,
    ...encodeU32(memory.initial),
    ...encodeU32(memory.maximum),
  ];
  const imports = sections.find((s) => s.id === SectionId.import);
  let importSection: Uint8Array[];
  let importAt: number;
  let importEnd: number;
  if (imports === undefined) {
    const content = [...encodeU32(1), ...entry];
    importSection = [Uint8Array.from([SectionId.import, ...encodeU32(content.length), ...content])];
    // Right after the type section, or before the first section when there is none.
    const type = sections.find((s) => s.id === SectionId.type);
    importAt = importEnd = type?.end ?? sections[0]!.start;
  } else {
    const importReader = sectionReader(bytes, imports);
    const count = importReader.u32();
    const rest = bytes.subarray(importReader.offset, imports.end);
    const head = [...encodeU32(count + 1)];
    const size = head.length + rest.byteLength + entry.length;
    importSection = [Uint8Array.from([SectionId.import, ...encodeU32(size), ...head]), rest, Uint8Array.from(entry)];
    importAt = imports.start;
    importEnd = imports.end;
  }
  // The import section comes before the memory section: copy up to it, the new import section,
  // what lies between, then everything after the memory section.
  const rewritten = Buffer.concat([
    bytes.subarray(0, importAt),
    ...importSection,
    bytes.subarray(importEnd, memorySection.start),
    bytes.subarray(memorySection.end),
  ]);
  return { bytes: rewritten, memory };
}
