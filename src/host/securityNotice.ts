import type { SecurityStatus } from '../sandbox/security.js';
import type { EventSink } from './emitter.js';

/**
 * Why: a host says once what its sandbox is, on its emitter after the caller has had the chance
 * to subscribe, and once per missing layer as a process warning too (a log nobody reads is not
 * enough for a layer that is off).
 */
export function announceSecurity(sink: EventSink, status: SecurityStatus): void {
  // After the caller has had the chance to subscribe.
  setImmediate(() => sink.emitSafely('security:status', status));
  for (const feature of status.features.filter((f) => !f.available)) {
    // Once per missing feature per host: on the emitter and as a process warning.
    process.emitWarning(`warden: sandbox layer "${feature.feature}" is unavailable (${feature.detail}); fix: ${feature.fix}`, {
      code: feature.required ? 'WARDEN_INSECURE' : 'WARDEN_DEGRADED',
    });
    setImmediate(() => sink.emitSafely('security:warning', feature));
  }
}
