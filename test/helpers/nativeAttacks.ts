/**
 * Attack sources that need native code (`ctx.native`, test/fixtures/native/attack.cc), for
 * the attacker workers: each is the body of an async function run inside the worker, and
 * returns a JSON value. The Linux constants below are the same on x86_64 and aarch64.
 */

export const MiB = 1024 * 1024;

export const PROT_READ_WRITE = 0x3;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_GROWSDOWN = 0x0100;
export const IPC_CREAT_0600 = 0o1600;
export const FALLOC_FL_KEEP_SIZE = 0x01;

/** Maps `bytes` of anonymous memory with `flags` and writes every page: `{ errno, touched }`. */
export function mapAndTouch(bytes: number, flags: number): string {
  return `
    const n = ctx.native;
    const r = n.syscall(n.nr.mmap, 0, ${bytes}, ${PROT_READ_WRITE}, ${flags}, -1, 0);
    if (r.errno !== 'OK') return { errno: r.errno, touched: 0 };
    n.touch(r.ret, ${bytes});
    return { errno: 'OK', touched: ${bytes} };`;
}

/** Makes a SysV shared memory segment of `bytes`, attaches it and writes every page. */
export function sysvShmTouch(bytes: number): string {
  return `
    const n = ctx.native;
    const id = n.syscall(n.nr.shmget, 0, ${bytes}, ${IPC_CREAT_0600});
    if (id.errno !== 'OK') return { errno: id.errno, touched: 0 };
    const at = n.syscall(n.nr.shmat, id.ret, 0, 0);
    if (at.errno !== 'OK') return { errno: at.errno, touched: 0 };
    n.touch(at.ret, ${bytes});
    return { errno: 'OK', touched: ${bytes} };`;
}

/** `fallocate(fd, mode, 0, bytes)` on a file the worker opens for writing, or on an fd it kept. */
export function fallocate(file: string, mode: number, bytes: number): string {
  return `
    const n = ctx.native;
    const fd = globalThis.keptFd ?? ctx.fs.openSync(${JSON.stringify(file)}, 'r+');
    const r = n.syscall(n.nr.fallocate, fd, ${mode}, 0, ${bytes});
    return { errno: r.errno, size: ctx.fs.fstatSync(fd).size, allocated: ctx.fs.fstatSync(fd).blocks * 512 };`;
}

/**
 * The mount table as listmount/statmount show it: each mount's root within its filesystem (for
 * a bind, the source's path on the host). `{ errno }` when listmount is refused.
 */
export const MOUNT_ROOTS = `
  const n = ctx.native;
  // struct mnt_id_req (ver 1, 32 bytes): size, mnt_ns_fd, mnt_id, param, mnt_ns_id.
  const req = (id, param) => {
    const b = Buffer.alloc(32);
    b.writeUInt32LE(32, 0);
    b.writeBigUInt64LE(id, 8);
    b.writeBigUInt64LE(param, 16);
    return b;
  };
  const ids = Buffer.alloc(8 * 256);
  const listed = n.syscall(n.nr.listmount, req(0xffffffffffffffffn, 0n), ids, 256, 0);
  if (listed.errno !== 'OK') return { errno: listed.errno, roots: [] };
  const roots = [];
  for (let i = 0; i < listed.ret; i++) {
    const out = Buffer.alloc(8192);
    // STATMOUNT_MNT_ROOT | STATMOUNT_MNT_POINT: struct statmount has mnt_root and mnt_point at
    // offsets 104 and 108, string offsets into str[] at 512.
    const r = n.syscall(n.nr.statmount, req(ids.readBigUInt64LE(8 * i), 0x18n), out, out.length, 0);
    if (r.errno !== 'OK') return { errno: 'statmount ' + r.errno, roots };
    const str = (at) => out.toString('utf8', 512 + out.readUInt32LE(at), out.indexOf(0, 512 + out.readUInt32LE(at)));
    roots.push({ root: str(104), point: str(108) });
  }
  return { errno: 'OK', roots };`;
