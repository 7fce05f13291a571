/**
 * Escape corpus, network: an attacker inside a worker tries to talk to anything. Each test
 * asserts the attack fails and how; the comment names the layer that stops it.
 */
import test from 'ava';
import net from 'node:net';
import path from 'node:path';
import crypto from 'node:crypto';
import { startHost } from '../helpers/host.js';
import { startAttacker } from '../helpers/attacker.js';

/** A server the test runs on the host; counts the connections it accepted. */
async function listen(t: import('ava').ExecutionContext, options: net.ListenOptions): Promise<{ server: net.Server; accepted: () => number }> {
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, resolve);
  });
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { server, accepted: () => accepted };
}

const connect = (options: unknown) => `
  return await new Promise((resolve, reject) => {
    const socket = ctx.net.connect(${JSON.stringify(options)});
    socket.on('connect', () => { socket.destroy(); resolve('connected'); });
    socket.on('error', reject);
  });`;

test.serial('network: TCP to a server on the host loopback fails with EAFNOSUPPORT, nothing accepted', async (t) => {
  // seccomp (launcher) refuses AF_INET sockets; behind it the network namespace (only a down lo) and Landlock TCP connect.
  const { host } = await startHost(t);
  const { server, accepted } = await listen(t, { host: '127.0.0.1', port: 0 });
  const attacker = await startAttacker(t, host);
  const r = await attacker.run(connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port }));
  t.false(r.ok);
  t.is(r.code, 'EAFNOSUPPORT');
  t.is(accepted(), 0);
});

test.serial('network: TCP over IPv6 (::1) fails with EAFNOSUPPORT', async (t) => {
  // seccomp (launcher): AF_INET6 refused.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run(connect({ host: '::1', port: 80 }));
  t.false(r.ok);
  t.is(r.code, 'EAFNOSUPPORT');
});

test.serial('network: listening on a TCP port fails with EAFNOSUPPORT', async (t) => {
  // seccomp (launcher); Landlock TCP bind behind it.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run(`
    return await new Promise((resolve, reject) => {
      const server = ctx.net.createServer();
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => { server.close(); resolve('listening'); });
    });`);
  t.false(r.ok);
  t.is(r.code, 'EAFNOSUPPORT');
});

test.serial('network: a UDP socket fails with EAFNOSUPPORT', async (t) => {
  // seccomp (launcher): AF_INET datagram sockets refused as well.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run(`
    return await new Promise((resolve, reject) => {
      const socket = require('dgram').createSocket('udp4');
      socket.on('error', reject);
      socket.bind(0, () => { socket.close(); resolve('bound'); });
    });`);
  t.false(r.ok);
  t.is(r.code, 'EAFNOSUPPORT');
});

for (const family of ['socket_netlink', 'socket_packet', 'socket_inet', 'socket_inet6']) {
  test.serial(`network: a raw ${family} socket fails with EAFNOSUPPORT`, async (t) => {
    // seccomp (launcher): every socket family but AF_UNIX.
    const { host } = await startHost(t);
    const attacker = await startAttacker(t, host);
    const r = await attacker.run(`return ctx.addon.probeSyscall(${JSON.stringify(family)});`);
    t.deepEqual(r.value, 'EAFNOSUPPORT');
  });
}

test.serial('network: an abstract unix socket the host listens on is unreachable', async (t) => {
  // Network namespace (abstract unix names belong to a netns); Landlock scope (ABI >= 6) behind it.
  const { host } = await startHost(t);
  const name = `\0warden-escape-${crypto.randomBytes(6).toString('hex')}`;
  const { accepted } = await listen(t, { path: name });
  const attacker = await startAttacker(t, host);
  const r = await attacker.run(connect({ path: name }));
  t.false(r.ok);
  t.log(`abstract connect: ${r.code}`);
  t.true(['ECONNREFUSED', 'EPERM'].includes(r.code!), r.code);
  t.is(accepted(), 0);
});

test.serial('network: a unix socket at a host path is not visible (ENOENT)', async (t) => {
  // Mount namespace + new root: the socket file's host path does not exist inside.
  const { host, cacheDir } = await startHost(t);
  const socketPath = path.join(cacheDir, 'host.sock');
  const { accepted } = await listen(t, { path: socketPath });
  const attacker = await startAttacker(t, host);
  for (const target of [socketPath, '/var/run/docker.sock', '/run/systemd/private']) {
    const r = await attacker.run(connect({ path: target }));
    t.false(r.ok, target);
    t.is(r.code, 'ENOENT', target);
  }
  t.is(accepted(), 0);
});
