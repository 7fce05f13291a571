import test from 'ava';
import { startHost } from '../helpers/host.js';
import { startAttacker } from '../helpers/attacker.js';

test('the attacker worker runs arbitrary JavaScript inside a real, locked-down sandbox', async (t) => {
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  t.is(attacker.worker.attestation!.seccompMode, 2, 'the same lockdown as a real worker');
  t.true(attacker.worker.attestation!.execveBlocked);
  const sum = await attacker.run('return 6 * 7;');
  t.deepEqual(sum, { ok: true, detail: '42', value: 42 });
  const passwd = await attacker.run("return ctx.fs.readFileSync('/etc/passwd', 'utf8');");
  t.false(passwd.ok);
  t.is(passwd.code, 'ENOENT');
});
