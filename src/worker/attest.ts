import fs from 'node:fs';
import type { NativeAddon } from '../shared/addon.js';
import type { Attestation } from '../protocol/messages.js';

/** A host path every Linux host has; the sandbox must make it unreachable. */
export const OUTSIDE_PATH = '/etc/passwd';

function errnoOf(action: () => unknown): string {
  try {
    action();
    return 'OK';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? 'UNKNOWN';
  }
}

/** What the worker observes about its own confinement, after lockdown. */
export function attest(addon: NativeAddon): Attestation {
  const native = addon.attest();
  let rootEntries: string[] | string;
  try {
    rootEntries = fs.readdirSync('/');
  } catch (error) {
    rootEntries = (error as NodeJS.ErrnoException).code ?? 'UNKNOWN';
  }
  return {
    seccompMode: native.seccompMode,
    noNewPrivs: native.noNewPrivs,
    uid: native.uid,
    gid: native.gid,
    capEffective: native.capEffective,
    capPermitted: native.capPermitted,
    capBounding: native.capBounding,
    landlockAbi: native.landlockAbi,
    pid: native.pid,
    hostname: native.hostname,
    execveBlocked: addon.probeExecve() === 'EPERM',
    forkBlocked: addon.probeFork() === 'EPERM',
    rootEntries,
    outsideProbe: { path: OUTSIDE_PATH, result: errnoOf(() => fs.closeSync(fs.openSync(OUTSIDE_PATH, 'r'))) },
    envCount: Object.keys(process.env).length,
  };
}
