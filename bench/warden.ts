/**
 * What the bench measures: warden as a user runs it, the build in `dist/` (`npm run bench` builds
 * it first), not the sources through tsx's on-the-fly transform (which wraps every function it
 * creates in a naming helper: a cost per closure no user pays).
 */
export { createHost } from '../dist/index.js';
export type { Host, HostOptions } from '../dist/index.js';
export type { WorkerProcess } from '../dist/actors/workerProcess.js';
