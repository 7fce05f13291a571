export { createHost, Host, type HostEvents } from './host.js';
export type { HostOptions } from './options.js';
export * from './errors.js';
export type { SecurityStatus, FeatureStatus, SecurityFeature } from './sandbox/security.js';
export { checkSecurity } from './sandbox/security.js';
export type { WorkerInfo, WorkerKind, WorkerLimits, SandboxLayers, Attestation, ProbeResult } from './protocol/messages.js';
