/**
 * Row 5's process floor: the metered module in a plain node child (no sandbox, no warden), fed
 * over a unix socket on fd 3. A request is a u32 length and the input, read straight into one
 * buffer; the reply a u32 length and the output. What any runner that keeps the module out of
 * the caller's process pays at least: the input into the child and the output back.
 *
 * Started by compute.ts (`node --import tsx bench/computeChild.ts <wasm>`).
 */
import fs from 'node:fs';
import net from 'node:net';
import { instrument } from '../src/shared/meter/instrument.js';
import { runMetered } from './meteredRun.js';

const module = new WebAssembly.Module(instrument(new Uint8Array(fs.readFileSync(process.argv[2]!))));
let target = Buffer.alloc(4);
let filled = 0;
let length = -1;

// Node 20 takes `onread` in the constructor; its types only know it in connect.
const socket = new net.Socket({
  fd: 3,
  readable: true,
  writable: true,
  onread: {
    buffer: () => target.subarray(filled),
    callback: (n: number) => {
      filled += n;
      if (length < 0 && filled >= 4) {
        length = target.readUInt32LE(0);
        if (target.length < 4 + length) target = Buffer.concat([target.subarray(0, filled), Buffer.alloc(4 + length - filled)]);
      }
      if (length >= 0 && filled === 4 + length) {
        const { output } = runMetered(module, target.subarray(4, 4 + length));
        const head = Buffer.alloc(4);
        head.writeUInt32LE(output.byteLength);
        socket.write(Buffer.concat([head, output]));
        filled = 0;
        length = -1;
      }
      return true;
    },
  },
} as net.SocketConstructorOpts);
