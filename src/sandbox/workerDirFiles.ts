/** The files a worker dir may hold: known names, so no path is ever passed per job. */
export const WorkerDirFile = {
  /** Execute jobs: a private copy of the prepared artifact in the cache. */
  artifact: 'artifact',
  /** Prepare jobs: created empty by the host; the worker writes the artifact into it. */
  tmpArtifact: 'tmp-artifact',
} as const;
