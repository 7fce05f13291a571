import { RESERVED_EXPORT_PREFIX } from './meter/costs.js';
import { EXTERNAL_KIND_NAMES, SectionId, readSections, sectionReader } from './wasmReader.js';

/**
 * Export names of a WebAssembly module, read by a plain parser of its export section (the host
 * never hands untrusted bytes to V8): linear in the section's size. The metering's own exports
 * (`warden:*`, which no submitted module may have) are left out. Throws on a malformed section.
 */
export function exportsOfModule(module: Uint8Array): string[] {
  const section = readSections(module).find((s) => s.id === SectionId.export);
  if (!section) return [];
  const reader = sectionReader(module, section);
  const names: string[] = [];
  for (let n = reader.u32(); n > 0; n--) {
    const name = reader.name();
    const kind = reader.u8();
    reader.u32();
    if (EXTERNAL_KIND_NAMES[kind] !== undefined && !name.startsWith(RESERVED_EXPORT_PREFIX)) names.push(name);
  }
  return names;
}
