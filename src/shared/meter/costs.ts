/**
 * The cost table of warden's metering: what each instruction costs in fuel, what each call costs
 * in logical stack, and the names through which the host reaches the counters. Everything here
 * shapes the bytes `instrument` writes, so it is versioned: any change to this file, to the
 * opcode table or to the instrumenter's output bumps `METER_VERSION`, which is hashed into every
 * artifact's key (a cached artifact metered under another table is never reused).
 */

/** Version of the cost table and of the instrumenter's output. test/shared/meter/golden.test.ts pins it. */
export const METER_VERSION = 2;

/** Fuel of an instruction unless `FUEL_BY_OPCODE` says otherwise. */
export const FUEL_DEFAULT = 1;

/**
 * Fuel every charge itself adds to its segment (a load, a subtract, a store, a compare and a
 * branch): without it a tight loop would run several times longer per unit of fuel than
 * straight-line code, and a fuel budget would say less about time.
 */
export const CHARGE_FUEL = 4;

/**
 * Fuel of instructions that compile to nothing (structure) and of the heavier ones. Keys are the
 * opcode as written in `opcodes.ts`: one byte, or `prefix << 16 | sub-opcode` for 0xfc, 0xfd, 0xfe.
 */
export const FUEL_BY_OPCODE: ReadonlyMap<number, number> = new Map([
  // Structure: no machine code of their own. A branch back to a loop is a br, br_if or br_table
  // and costs 1, so every loop iteration pays at least 1.
  [0x01, 0], // nop
  [0x02, 0], // block
  [0x03, 0], // loop
  [0x05, 0], // else
  [0x06, 0], // try
  [0x07, 0], // catch
  [0x0b, 0], // end
  [0x18, 0], // delegate
  [0x19, 0], // catch_all
  // Calls: the frame set-up and the callee's stack check, and for indirect calls the table and
  // signature checks (measured: a loop of calls burns fuel no faster than a loop of branches).
  [0x10, 5], // call
  [0x11, 8], // call_indirect
  [0x12, 5], // return_call
  [0x13, 8], // return_call_indirect
  // Division and square root take tens of cycles.
  [0x6d, 4], // i32.div_s
  [0x6e, 4], // i32.div_u
  [0x6f, 4], // i32.rem_s
  [0x70, 4], // i32.rem_u
  [0x7f, 4], // i64.div_s
  [0x80, 4], // i64.div_u
  [0x81, 4], // i64.rem_s
  [0x82, 4], // i64.rem_u
  [0x91, 4], // f32.sqrt
  [0x95, 4], // f32.div
  [0x9f, 4], // f64.sqrt
  [0xa3, 4], // f64.div
  // Exceptions allocate and unwind.
  [0x08, 32], // throw
  [0x09, 32], // rethrow
  // Growing calls into the runtime.
  [0x40, 64], // memory.grow
  [0xfc << 16 | 15, 64], // table.grow (plus its length, below)
  // Bulk operations: a base here, plus their length at run time (`BULK_LENGTH_SHIFT`).
  [0xfc << 16 | 8, 1], // memory.init
  [0xfc << 16 | 10, 1], // memory.copy
  [0xfc << 16 | 11, 1], // memory.fill
  [0xfc << 16 | 12, 4], // table.init
  [0xfc << 16 | 14, 4], // table.copy
  [0xfc << 16 | 17, 4], // table.fill
  // Atomic wait parks the thread (on an unshared memory it traps); notify calls the runtime.
  [0xfe << 16 | 0x00, 16], // memory.atomic.notify
  [0xfe << 16 | 0x01, 64], // memory.atomic.wait32
  [0xfe << 16 | 0x02, 64], // memory.atomic.wait64
]);

/**
 * The length operand of a bulk operation costs `length >>> shift` more fuel, charged before the
 * operation runs: memory by 2 bytes per unit of fuel (a fill or copy moves 1 to 5 GB/s, so a loop
 * of them burns CPU per unit of fuel as the tightest wasm loop does: test/worker/jobs/hostFuel.test.ts;
 * at 16 bytes a unit, version 1, they burned it 8 times faster), tables by 4 elements.
 */
export const BULK_LENGTH_SHIFT: ReadonlyMap<number, number> = new Map([
  [0xfc << 16 | 8, 1], // memory.init
  [0xfc << 16 | 10, 1], // memory.copy
  [0xfc << 16 | 11, 1], // memory.fill
  [0xfc << 16 | 12, 2], // table.init
  [0xfc << 16 | 14, 2], // table.copy
  [0xfc << 16 | 15, 2], // table.grow
  [0xfc << 16 | 17, 2], // table.fill
]);

/*
 * Host functions. What a call costs is charged by the worker at run time and shapes no artifact
 * bytes, so these figures do not bump METER_VERSION; they are warden's, like the rest of its
 * version. They are set so that no pattern of calls burns CPU faster per unit of fuel than the
 * tightest wasm loop does (about 4.6 M fuel per CPU ms, docs/api.md "Picking a fuel value"):
 * test/worker/jobs/hostFuel.test.ts measures each pattern against that loop, in the same run.
 */

/** A host function call (any import, however reached: call, call_indirect, a table) costs this much fuel (a JS call from wasm and back, about 100 ns)... */
export const HOST_CALL_FUEL = 2048;
/** ...plus one unit of fuel per this many bytes it moves between memory and the host (JS copies, fills or clears them, at memory speed: 1 to 5 GB/s)... */
export const HOST_BYTES_PER_FUEL = 1;
/**
 * ...plus this much per item of work a call does apart from copying: each iovec, subscription,
 * directory entry, argv or environment string, path byte group or ancestor directory it walks,
 * each CPU-clock read (a system call), each 128 bytes of randomness.
 */
export const HOST_ITEM_FUEL = 1024;

/*
 * Logical stack. A call costs its callee's frame, in units of 8 bytes: every parameter and local,
 * and the highest its operand stack can reach, plus a fixed overhead. i32, i64, f32, f64 and
 * references count 1 unit, v128 counts 4 (16 bytes, plus up to 12 of alignment padding). Liftoff
 * gives every local and every operand stack slot a spill slot of 4, 8 or 16 bytes, and a frame
 * header of 48 bytes on x64; TurboFan's frames measure smaller (docs/architecture.md, "Metering").
 */

/** Units of the frame header (return address, frame pointer, instance, feedback vector, spill scratch). */
export const FRAME_OVERHEAD_UNITS = 8;
/** Operand stack the injected checks themselves use on top of the function's own. */
export const INSTRUMENT_STACK_UNITS = 3;
/** Bytes one unit stands for. */
export const BYTES_PER_UNIT = 8;
/**
 * The largest frame a function may need, in units (256 KiB, about 30,000 locals). A bigger one is
 * refused at prepare: the frame of the call that trips the limit is already on the native stack
 * when the check runs, so the stack must hold one such frame beyond the logical limit.
 */
export const MAX_FRAME_UNITS = 32_768;
/** V8's limit on the locals of one function; also refused by our reader so the host needs no V8. */
export const MAX_LOCALS = 50_000;
/** V8's limit on the size of one function body (kV8MaxWasmFunctionSize). */
export const MAX_BODY_BYTES = 7_654_321;
/**
 * Blocks nested deeper than this are refused: V8 sets no such limit, but the instrumenter keeps
 * a record per open block, and the host runs it on code no V8 has seen yet.
 */
export const MAX_NESTING = 65_536;

/** Export names the instrumenter adds; a module exporting any name with this prefix is refused. */
export const RESERVED_EXPORT_PREFIX = 'warden:';
/** The fuel left, an exported mutable i64 global: the host sets it before the first call and reads it after. */
export const FUEL_EXPORT = 'warden:fuel';
/** The logical stack left, an exported mutable i32 global. */
export const STACK_EXPORT = 'warden:stack';
/** The module's start function, exported instead of run at instantiation so that it runs metered. */
export const START_EXPORT = 'warden:start';
