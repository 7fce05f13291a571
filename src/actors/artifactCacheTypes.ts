/** Options of `ArtifactCache.open`. */
export interface ArtifactCacheOptions {
  /** Size bound of the cache in bytes: above it, the least recently used unpinned artifacts are pruned. */
  maxBytes: number;
  /**
   * Largest single artifact file accepted when scanning on open (a larger one is not an
   * artifact this host could have written). Default: no bound beyond the file format's.
   */
  maxArtifactBytes?: number;
  /** The clock, in ms since the epoch; injected so tests can set last-use times. Default `Date.now`. */
  now?: () => number;
}

/** Options of `ArtifactCache.installFrom`. */
export interface InstallOptions {
  /** Largest artifact accepted, in bytes (header included). */
  maxBytes: number;
  /** The params hash the artifact must have been prepared under (64 hex). */
  expectedParamsHash: string;
  /** Called with the verified module before it is installed (to read facts from it); a throw refuses the install. */
  inspect?: (module: Uint8Array) => void;
}

/** One cached artifact, as the cache sees it now (a snapshot, not a live view). */
export interface ArtifactEntry {
  key: string;
  /** Absolute path of `<key>.wdna`: what execute workers get a hard link to. */
  path: string;
  size: number;
  lastUsed: Date;
  /** How many running execute jobs hold it (see `pin`); pruning never removes a pinned entry. */
  pinned: number;
}

/** An entry removed by `prune`. */
export interface PrunedEntry {
  key: string;
  size: number;
  lastUsed: Date;
}

/**
 * Why an artifact left the cache: `corrupted` (an execute worker or `verify` found it bad),
 * `pruned` (least recently used above the size bound), `cleared` (`clear()`),
 * `invalid-on-open` (failed verification when the cache was opened).
 */
export type ArtifactDeleteReason = 'corrupted' | 'pruned' | 'cleared' | 'invalid-on-open';

export interface ArtifactDeletedEvent {
  key: string;
  path: string;
  size: number;
  reason: ArtifactDeleteReason;
}

/** Something `open` removed from the artifacts dir, and why. */
export interface RemovedOnOpen {
  /** File name inside the artifacts dir. */
  name: string;
  /** `temp`: left by an interrupted install. `artifact`: an artifact that failed verification. */
  kind: 'temp' | 'artifact';
  /** The artifact's key (`kind: 'artifact'` only). */
  key: string | undefined;
  size: number;
  reason: string;
}

/**
 * The cache's typed events, for the host to forward as its own. Every removal emits
 * `artifact:deleted` with its reason; pruning emits `artifact:pruned` as well.
 */
export type ArtifactCacheEvents = {
  'artifact:installed': [ArtifactEntry];
  'artifact:pruned': [PrunedEntry];
  'artifact:deleted': [ArtifactDeletedEvent];
};
