/**
 * Debian's chromium, driven by playwright-core (no downloaded browser: `npx playwright
 * install` needs the network). Where it is not installed the tests that need it skip, saying
 * so in their title; CI sets WARDEN_REQUIRE_CHROMIUM=1 (.ci/run installs it), and then a
 * missing browser fails them instead.
 */
import fs from 'node:fs';
import type { SerialFn, TestFn } from 'ava';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const REQUIRED = process.env.WARDEN_REQUIRE_CHROMIUM === '1';

/** `declare` (test, test.serial), or its `.skip` with the reason in the title where chromium is missing. */
export function needsChromium<Declare extends TestFn | SerialFn>(declare: Declare): Declare {
  if (REQUIRED || fs.existsSync(CHROMIUM)) return declare;
  const why = `skipped: ${CHROMIUM} is missing — install Debian's chromium (apt-get install chromium)`;
  return ((title: string, ...rest: unknown[]) => (declare.skip as (...args: unknown[]) => void)(`${title} (${why})`, ...rest)) as unknown as Declare;
}

/** Starts the browser headless and offline: no GPU, no first-run, no background traffic. */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (.ci/run does)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
