import { optionalAddon } from './addon.js';
import { nodeCrypto } from './builtins.js';

/**
 * The artifact file format (version 1): what a prepare job writes to `tmp-artifact` and the
 * cache keeps. Little-endian header of 80 bytes, then the validated module.
 *
 * ```
 * 0   4  magic "WDNA"
 * 4   4  format version (u32) = 1
 * 8   8  module length (u64)
 * 16  32 checksum: sha256(params hash bytes || module)
 * 48  32 params hash: sha256 of the preparation parameters (hex-decoded)
 * 80  .. module bytes (the validated, possibly rewritten, WebAssembly module)
 * ```
 */
export const ARTIFACT_MAGIC = Buffer.from('WDNA', 'latin1');
export const ARTIFACT_VERSION = 1;
export const ARTIFACT_HEADER_BYTES = 80;

export interface DecodedArtifact {
  module: Uint8Array;
  /** Hex sha256 of the preparation parameters the module was prepared under. */
  paramsHash: string;
}

/** Why an artifact was refused; the caller turns it into E_CORRUPTED_ARTIFACT. */
export class ArtifactFormatError extends Error {
  override name = 'ArtifactFormatError';
}

/**
 * sha256(params hash bytes || module). Through the addon where it is loaded (node's own OpenSSL,
 * the same digest): an execute worker checks its artifact without loading node:crypto, whose
 * modules cost a fresh worker ~3 ms before its first job (a CPU profile of a worker from Ready to
 * its first reply).
 */
function checksum(paramsHash: Buffer, module: Uint8Array): Buffer {
  const addon = optionalAddon();
  if (typeof addon?.sha256 === 'function') {
    const digest = Buffer.allocUnsafe(32);
    addon.sha256(paramsHash, module, digest);
    return digest;
  }
  return nodeCrypto().createHash('sha256').update(paramsHash).update(module).digest();
}

/** Wraps a module in the artifact format. `paramsHash` is 64 hex digits. */
export function encodeArtifact(module: Uint8Array, paramsHash: string): Buffer {
  const params = Buffer.from(paramsHash, 'hex');
  if (params.length !== 32) throw new TypeError('paramsHash must be 64 hex digits');
  const out = Buffer.alloc(ARTIFACT_HEADER_BYTES + module.byteLength);
  ARTIFACT_MAGIC.copy(out, 0);
  out.writeUInt32LE(ARTIFACT_VERSION, 4);
  out.writeBigUInt64LE(BigInt(module.byteLength), 8);
  checksum(params, module).copy(out, 16);
  params.copy(out, 48);
  out.set(module, ARTIFACT_HEADER_BYTES);
  return out;
}

/** Checks magic, version, length and checksum; throws `ArtifactFormatError` on any mismatch. */
export function decodeArtifact(bytes: Uint8Array): DecodedArtifact {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < ARTIFACT_HEADER_BYTES) throw new ArtifactFormatError(`artifact of ${buf.length} bytes is shorter than its header`);
  if (!buf.subarray(0, 4).equals(ARTIFACT_MAGIC)) throw new ArtifactFormatError('artifact has a wrong magic number');
  const version = buf.readUInt32LE(4);
  if (version !== ARTIFACT_VERSION) throw new ArtifactFormatError(`artifact format version ${version} is not ${ARTIFACT_VERSION}`);
  const length = buf.readBigUInt64LE(8);
  if (length !== BigInt(buf.length - ARTIFACT_HEADER_BYTES)) {
    throw new ArtifactFormatError(`artifact says ${length} module bytes but holds ${buf.length - ARTIFACT_HEADER_BYTES}`);
  }
  const params = buf.subarray(48, 80);
  const module = buf.subarray(ARTIFACT_HEADER_BYTES);
  if (!checksum(params, module).equals(buf.subarray(16, 48))) throw new ArtifactFormatError('artifact checksum mismatch');
  return { module, paramsHash: params.toString('hex') };
}

/** Hex sha256 of a canonical JSON rendering of the preparation parameters (sorted keys). */
export function hashParams(params: Record<string, unknown>): string {
  const canonical = JSON.stringify(Object.fromEntries(Object.entries(params).sort(([a], [b]) => (a < b ? -1 : 1))));
  return nodeCrypto().createHash('sha256').update(canonical).digest('hex');
}
