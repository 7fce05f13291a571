// Runs one WASI command under node:wasi: the reference the WASI shim is compared with.
// argv: module, preopen dir, argv JSON, env JSON, result file. The module's stdio is this
// process's; how it ended goes to the result file as { exitCode } or { trap }.
import fs from 'node:fs';
import { WASI } from 'node:wasi';

const [modulePath, root, argsJson, envJson, resultFile] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: JSON.parse(argsJson), env: JSON.parse(envJson), preopens: { '/': root }, returnOnExit: true });
const instance = await WebAssembly.instantiate(new WebAssembly.Module(fs.readFileSync(modulePath)), { wasi_snapshot_preview1: wasi.wasiImport });
let result;
try {
  result = { exitCode: wasi.start(instance) };
} catch (error) {
  if (!(error instanceof WebAssembly.RuntimeError)) throw error;
  result = { trap: error.message };
}
fs.writeFileSync(resultFile, JSON.stringify(result));
