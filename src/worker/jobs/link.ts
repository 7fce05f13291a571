/**
 * The link check of prepare: V8 instantiates the module against exactly the imports an execute
 * offers, without running any of its code, so that whatever prepares also links.
 *
 * The imports an execute offers are the WASI shim's plain JavaScript functions, which V8 links to
 * a function import of any type. Here they are stood in for by the exports of a small module with
 * the exact preview 1 signatures: against those V8 checks the type of each import too, so "links"
 * means what prepare promises, every import by name, kind and exact signature.
 */
import { HOST_FUNCTIONS, type Signature } from '../../shared/hostFunctions.js';
import { JobError } from '../../shared/jobError.js';
import { withoutSection } from '../../shared/rewrite.js';
import { SectionId, encodeU32, readSections } from '../../shared/wasmReader.js';

const VALUE_TYPE_CODES: Record<string, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c };

function vector(items: number[][]): number[] {
  return [...encodeU32(items.length), ...items.flat()];
}

function section(id: number, content: number[]): number[] {
  return [id, ...encodeU32(content.length), ...content];
}

function nameBytes(name: string): number[] {
  const bytes = [...Buffer.from(name, 'utf8')];
  return [...encodeU32(bytes.length), ...bytes];
}

/** `(i32,i64)->i32` as a function type of the binary format. */
function functionType(signature: Signature): number[] {
  const [params, results] = signature.slice(1).split(')->') as [string, string];
  const codes = (list: string) => (list === '' ? [] : list.split(',').map((type) => [VALUE_TYPE_CODES[type]!]));
  return [0x60, ...vector(codes(params)), ...vector(codes(results))];
}

/** A module exporting one function per entry, of its exact type, whose body is `unreachable`. */
function abiModule(functions: ReadonlyMap<string, Signature>): Uint8Array {
  const entries = [...functions];
  const body = [0x00, 0x00, 0x0b]; // no locals, unreachable, end
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(SectionId.type, vector(entries.map(([, signature]) => functionType(signature)))),
    ...section(SectionId.function, vector(entries.map((_, index) => encodeU32(index)))),
    ...section(SectionId.export, vector(entries.map(([name], index) => [...nameBytes(name), 0x00, ...encodeU32(index)]))),
    ...section(SectionId.code, vector(entries.map(() => [...encodeU32(body.length), ...body]))),
  ]);
}

let abiImports: WebAssembly.Imports | undefined;

/** The import object with the exact signatures, built once per thread (it is never called). */
function linkImports(): WebAssembly.Imports {
  abiImports ??= Object.fromEntries(
    [...HOST_FUNCTIONS].map(([module, functions]) => [module, new WebAssembly.Instance(new WebAssembly.Module(abiModule(functions))).exports]),
  );
  return abiImports;
}

/**
 * Compiles `module` (proving V8 compiles it) and instantiates it against the ABI's imports with its
 * start section removed, so none of its code runs: no start function, no `_start`, no `run`.
 * A link error is E_PREVALIDATION. A trap while the instance is set up (an active data or element
 * segment out of bounds) comes after linking: the module links, and each execute reports the
 * trap. Throws E_PREPARATION when V8 does not compile a module it validated.
 */
export function checkLinks(module: Uint8Array): void {
  let compiled: WebAssembly.Module;
  try {
    compiled = new WebAssembly.Module(withoutSection(module, readSections(module), SectionId.start));
  } catch (error) {
    // Validation passed, so this is V8 refusing to compile (an implementation limit, most likely).
    throw new JobError('E_PREPARATION', `module does not compile: ${(error as Error).message}`, { cause: error });
  }
  try {
    new WebAssembly.Instance(compiled, linkImports());
  } catch (error) {
    if (error instanceof WebAssembly.LinkError || error instanceof TypeError) {
      throw new JobError('E_PREVALIDATION', `module does not link under its ABI: ${(error as Error).message}`, { cause: error });
    }
    if (error instanceof WebAssembly.RuntimeError) return;
    if (error instanceof RangeError) throw new JobError('E_OUT_OF_MEMORY', `module cannot be instantiated: ${error.message}`, { cause: error });
    throw error;
  }
}
