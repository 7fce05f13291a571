import fs from 'node:fs';
import { decodeArtifact } from './shared/artifact.js';
import { exportsOfModule } from './shared/moduleExports.js';

export type Abi = 'run' | 'wasi';

const codeOf = new WeakMap<Artifact, Uint8Array>();

/** The exports each ABI runs through. */
const ABI_EXPORTS: Record<Abi, readonly string[]> = { run: ['run', 'memory'], wasi: ['_start'] };

/** The exports `abi` needs that a module's `exports` lack: none when the module can run with it. */
export function missingAbiExports(abi: Abi, exports: readonly string[]): string[] {
  return ABI_EXPORTS[abi].filter((name) => !exports.includes(name));
}

/**
 * A prepared artifact, as `host.prepare` returns it. Pass it to `host.execute`. It keeps the
 * code it was prepared from, so the host can prepare it again if the cached file is lost or
 * corrupted.
 */
export class Artifact {
  /** Cache key: sha256 of the code and the hash of the preparation limits. */
  readonly key: string;
  /** Size of the artifact file, bytes. */
  readonly size: number;
  /** Names of the module's exports. */
  readonly exports: readonly string[];
  /** The ABI the exports imply (`wasi` for `_start`, `run` for `run` + `memory`), if one. */
  readonly abi: Abi | undefined;
  /** True when it came from the cache rather than a prepare job. */
  readonly cached: boolean;

  /** @internal */
  constructor(key: string, size: number, exports: readonly string[], code: Uint8Array, cached: boolean) {
    this.key = key;
    this.size = size;
    this.exports = Object.freeze([...exports]);
    this.abi = missingAbiExports('run', exports).length === 0 ? 'run' : missingAbiExports('wasi', exports).length === 0 ? 'wasi' : undefined;
    this.cached = cached;
    codeOf.set(this, code);
  }

  toJSON(): Record<string, unknown> {
    return { key: this.key, size: this.size, exports: this.exports, abi: this.abi, cached: this.cached };
  }
}

/** The code an artifact was prepared from. @internal */
export function artifactCode(artifact: Artifact): Uint8Array | undefined {
  return codeOf.get(artifact);
}

/**
 * Export names of a cached artifact, read by a plain parser of the export section (the host
 * never hands untrusted bytes to V8), without the `warden:*` exports metering added (the
 * module's own may not use that prefix). Returns [] for an artifact it cannot read.
 */
export function exportsOfArtifactFile(file: string): string[] {
  try {
    return exportsOfModule(decodeArtifact(fs.readFileSync(file)).module);
  } catch {
    return [];
  }
}
