/**
 * The host function set: every function a module may import. Only WASI preview 1, served by the
 * in-memory shim of `wasi.ts`; anything else (an `env` import, a memory, table or global import) is
 * refused at preparation, so a prepared module always links.
 */

/** The only import module a job may name. */
export const WASI_MODULE = 'wasi_snapshot_preview1';

/** A function type written as `(i32,i64)->i32`, the form `prevalidate.ts` prints for a module's imports. */
export type Signature = string;

/* Signatures from the preview 1 witx (`wasi_snapshot_preview1.witx`): every handle, size and pointer
 * is an i32, timestamps, file sizes, offsets and rights are i64, and each call returns an errno. */
const i = 'i32';
const I = 'i64';
function sig(...params: string[]): Signature {
  return `(${params.join(',')})->i32`;
}

/** Preview 1 function name → its signature. All are implemented by the shim (most refuse). */
export const WASI_FUNCTIONS: ReadonlyMap<string, Signature> = new Map([
  ['args_get', sig(i, i)],
  ['args_sizes_get', sig(i, i)],
  ['environ_get', sig(i, i)],
  ['environ_sizes_get', sig(i, i)],
  ['clock_res_get', sig(i, i)],
  ['clock_time_get', sig(i, I, i)],
  ['fd_advise', sig(i, I, I, i)],
  ['fd_allocate', sig(i, I, I)],
  ['fd_close', sig(i)],
  ['fd_datasync', sig(i)],
  ['fd_fdstat_get', sig(i, i)],
  ['fd_fdstat_set_flags', sig(i, i)],
  ['fd_fdstat_set_rights', sig(i, I, I)],
  ['fd_filestat_get', sig(i, i)],
  ['fd_filestat_set_size', sig(i, I)],
  ['fd_filestat_set_times', sig(i, I, I, i)],
  ['fd_pread', sig(i, i, i, I, i)],
  ['fd_prestat_get', sig(i, i)],
  ['fd_prestat_dir_name', sig(i, i, i)],
  ['fd_pwrite', sig(i, i, i, I, i)],
  ['fd_read', sig(i, i, i, i)],
  ['fd_readdir', sig(i, i, i, I, i)],
  ['fd_renumber', sig(i, i)],
  ['fd_seek', sig(i, I, i, i)],
  ['fd_sync', sig(i)],
  ['fd_tell', sig(i, i)],
  ['fd_write', sig(i, i, i, i)],
  ['path_create_directory', sig(i, i, i)],
  ['path_filestat_get', sig(i, i, i, i, i)],
  ['path_filestat_set_times', sig(i, i, i, i, I, I, i)],
  ['path_link', sig(i, i, i, i, i, i, i)],
  ['path_open', sig(i, i, i, i, i, I, I, i, i)],
  ['path_readlink', sig(i, i, i, i, i, i)],
  ['path_remove_directory', sig(i, i, i)],
  ['path_rename', sig(i, i, i, i, i, i)],
  ['path_symlink', sig(i, i, i, i, i)],
  ['path_unlink_file', sig(i, i, i)],
  ['poll_oneoff', sig(i, i, i, i)],
  ['proc_exit', '(i32)->'],
  ['proc_raise', sig(i)],
  ['sched_yield', sig()],
  ['random_get', sig(i, i)],
  ['sock_accept', sig(i, i, i)],
  ['sock_recv', sig(i, i, i, i, i, i)],
  ['sock_send', sig(i, i, i, i, i)],
  ['sock_shutdown', sig(i, i)],
]);

/** The host function set: import module name → function name → signature. */
export const HOST_FUNCTIONS: ReadonlyMap<string, ReadonlyMap<string, Signature>> = new Map([[WASI_MODULE, WASI_FUNCTIONS]]);
