/*
 * The pieces every warden seccomp filter is built from, shared by the launcher's filter and
 * the addon's: which arch a filter is written for, and the load/return instructions.
 * C and C++; header only.
 */
#ifndef WARDEN_SECCOMP_BPF_H
#define WARDEN_SECCOMP_BPF_H

#include <stddef.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#if defined(__x86_64__) && !defined(__ILP32__)
#define WARDEN_AUDIT_ARCH AUDIT_ARCH_X86_64
/* x32 syscalls report AUDIT_ARCH_X86_64 too, with this bit set in nr: their own table. */
#define WARDEN_X32_BIT 0x40000000U
#elif defined(__aarch64__) && defined(__AARCH64EL__)
#define WARDEN_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "warden: the seccomp filters are written for x86_64 and little-endian aarch64 only"
#endif
/* Arguments are read as their low 32 bits at the argument's own offset. */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "warden: the seccomp filters read the low 32 bits of arguments at offset 0"
#endif

#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS SECCOMP_RET_KILL
#endif

#define WARDEN_BPF_LOAD(field) \
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
/* Low 32 bits of syscall argument n: what the kernel reads of an int argument. */
#define WARDEN_BPF_LOAD_ARG(n) \
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args) + 8 * (n))
#define WARDEN_BPF_RET(action) BPF_STMT(BPF_RET | BPF_K, (action))
#define WARDEN_BPF_RET_ERRNO(err) WARDEN_BPF_RET(SECCOMP_RET_ERRNO | ((err) & SECCOMP_RET_DATA))

/* Syscall numbers only mean something for one ABI: any other arch (i386 through int 0x80 on
 * x86_64, aarch32 compat on aarch64) and x32 are killed. Leaves the syscall number loaded;
 * usable as the first elements of a static sock_filter array. */
#ifdef WARDEN_X32_BIT
#define WARDEN_BPF_CHECK_X32 \
	BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, WARDEN_X32_BIT, 0, 1), WARDEN_BPF_RET(SECCOMP_RET_KILL_PROCESS),
#else
#define WARDEN_BPF_CHECK_X32
#endif
#define WARDEN_BPF_PROLOGUE                                                  \
	WARDEN_BPF_LOAD(arch),                                               \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, WARDEN_AUDIT_ARCH, 1, 0),        \
	WARDEN_BPF_RET(SECCOMP_RET_KILL_PROCESS),                            \
	WARDEN_BPF_LOAD(nr), WARDEN_BPF_CHECK_X32

#endif
