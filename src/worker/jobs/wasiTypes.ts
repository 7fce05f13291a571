/** Constants of WASI preview 1 (`wasi_snapshot_preview1.witx`) that the shim uses. */

export const Errno = {
  SUCCESS: 0,
  TOOBIG: 1,
  ACCES: 2,
  BADF: 8,
  BUSY: 10,
  EXIST: 20,
  FAULT: 21,
  FBIG: 22,
  ILSEQ: 25,
  INVAL: 28,
  IO: 29,
  ISDIR: 31,
  LOOP: 32,
  MFILE: 33,
  NAMETOOLONG: 37,
  NOENT: 44,
  NOSPC: 51,
  NOSYS: 52,
  NOTDIR: 54,
  NOTEMPTY: 55,
  NOTSOCK: 57,
  NOTSUP: 58,
  OVERFLOW: 61,
  PERM: 63,
  SPIPE: 70,
  XDEV: 75,
  NOTCAPABLE: 76,
} as const;

export const Filetype = {
  UNKNOWN: 0,
  BLOCK_DEVICE: 1,
  CHARACTER_DEVICE: 2,
  DIRECTORY: 3,
  REGULAR_FILE: 4,
  SOCKET_DGRAM: 5,
  SOCKET_STREAM: 6,
  SYMBOLIC_LINK: 7,
} as const;

export const Rights = {
  FD_DATASYNC: 1n << 0n,
  FD_READ: 1n << 1n,
  FD_SEEK: 1n << 2n,
  FD_FDSTAT_SET_FLAGS: 1n << 3n,
  FD_SYNC: 1n << 4n,
  FD_TELL: 1n << 5n,
  FD_WRITE: 1n << 6n,
  FD_ADVISE: 1n << 7n,
  FD_ALLOCATE: 1n << 8n,
  PATH_CREATE_DIRECTORY: 1n << 9n,
  PATH_CREATE_FILE: 1n << 10n,
  PATH_LINK_SOURCE: 1n << 11n,
  PATH_LINK_TARGET: 1n << 12n,
  PATH_OPEN: 1n << 13n,
  FD_READDIR: 1n << 14n,
  PATH_READLINK: 1n << 15n,
  PATH_RENAME_SOURCE: 1n << 16n,
  PATH_RENAME_TARGET: 1n << 17n,
  PATH_FILESTAT_GET: 1n << 18n,
  PATH_FILESTAT_SET_SIZE: 1n << 19n,
  PATH_FILESTAT_SET_TIMES: 1n << 20n,
  FD_FILESTAT_GET: 1n << 21n,
  FD_FILESTAT_SET_SIZE: 1n << 22n,
  FD_FILESTAT_SET_TIMES: 1n << 23n,
  PATH_SYMLINK: 1n << 24n,
  PATH_REMOVE_DIRECTORY: 1n << 25n,
  PATH_UNLINK_FILE: 1n << 26n,
  POLL_FD_READWRITE: 1n << 27n,
  SOCK_SHUTDOWN: 1n << 28n,
} as const;

const R = Rights;

/** What a regular file can do, as node:wasi (uvwasi) grants it. */
export const FILE_RIGHTS =
  R.FD_DATASYNC |
  R.FD_READ |
  R.FD_SEEK |
  R.FD_FDSTAT_SET_FLAGS |
  R.FD_SYNC |
  R.FD_TELL |
  R.FD_WRITE |
  R.FD_ADVISE |
  R.FD_ALLOCATE |
  R.FD_FILESTAT_GET |
  R.FD_FILESTAT_SET_SIZE |
  R.FD_FILESTAT_SET_TIMES |
  R.POLL_FD_READWRITE;

/** What a directory can do, as node:wasi (uvwasi) grants it. */
export const DIRECTORY_RIGHTS =
  R.FD_FDSTAT_SET_FLAGS |
  R.FD_SYNC |
  R.FD_ADVISE |
  R.PATH_CREATE_DIRECTORY |
  R.PATH_CREATE_FILE |
  R.PATH_LINK_SOURCE |
  R.PATH_LINK_TARGET |
  R.PATH_OPEN |
  R.FD_READDIR |
  R.PATH_READLINK |
  R.PATH_RENAME_SOURCE |
  R.PATH_RENAME_TARGET |
  R.PATH_FILESTAT_GET |
  R.PATH_FILESTAT_SET_SIZE |
  R.PATH_FILESTAT_SET_TIMES |
  R.FD_FILESTAT_GET |
  R.FD_FILESTAT_SET_TIMES |
  R.PATH_SYMLINK |
  R.PATH_REMOVE_DIRECTORY |
  R.PATH_UNLINK_FILE |
  R.POLL_FD_READWRITE;

/** What a directory passes on to what is opened beneath it. */
export const DIRECTORY_INHERITING = DIRECTORY_RIGHTS | FILE_RIGHTS;

export const ClockId = { REALTIME: 0, MONOTONIC: 1, PROCESS_CPUTIME: 2, THREAD_CPUTIME: 3 } as const;

export const EventType = { CLOCK: 0, FD_READ: 1, FD_WRITE: 2 } as const;

/** `subclockflags`: the timeout is an absolute time of the clock, not a duration. */
export const SUBSCRIPTION_CLOCK_ABSTIME = 1;

export const Whence = { SET: 0, CUR: 1, END: 2 } as const;

export const OFlags = { CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8 } as const;

export const FdFlags = { APPEND: 1, DSYNC: 2, NONBLOCK: 4, RSYNC: 8, SYNC: 16 } as const;

export const LookupFlags = { SYMLINK_FOLLOW: 1 } as const;

export const FstFlags = { ATIM: 1, ATIM_NOW: 2, MTIM: 4, MTIM_NOW: 8 } as const;

export const PreopenType = { DIR: 0 } as const;

/** Struct sizes (wasm32 layout). */
export const Size = { IOVEC: 8, FDSTAT: 24, FILESTAT: 64, SUBSCRIPTION: 48, EVENT: 32, DIRENT: 24, PRESTAT: 8 } as const;
