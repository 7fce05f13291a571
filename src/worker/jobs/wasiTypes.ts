/** Constants of WASI preview 1 (`wasi_snapshot_preview1.witx`) that the shim uses. */

export const Errno = {
  SUCCESS: 0,
  BADF: 8,
  FAULT: 21,
  INVAL: 28,
  NOSYS: 52,
  NOTSOCK: 57,
  SPIPE: 70,
  NOTCAPABLE: 76,
} as const;

export const Filetype = { CHARACTER_DEVICE: 2 } as const;

export const Rights = {
  FD_READ: 1n << 1n,
  FD_WRITE: 1n << 6n,
  POLL_FD_READWRITE: 1n << 27n,
} as const;

export const ClockId = { REALTIME: 0, MONOTONIC: 1 } as const;

export const EventType = { CLOCK: 0, FD_READ: 1, FD_WRITE: 2 } as const;

/** `subclockflags`: the timeout is an absolute time of the clock, not a duration. */
export const SUBSCRIPTION_CLOCK_ABSTIME = 1;

/** Struct sizes (wasm32 layout). */
export const Size = { IOVEC: 8, FDSTAT: 24, FILESTAT: 64, SUBSCRIPTION: 48, EVENT: 32 } as const;
