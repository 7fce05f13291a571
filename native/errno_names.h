/*
 * errno values by name, for the launcher's `step=` lines, the addon's probe results and the
 * test suite's attack fixture: one table, so the three never name the same errno two ways.
 * C and C++; header only (each program is one translation unit).
 */
#ifndef WARDEN_ERRNO_NAMES_H
#define WARDEN_ERRNO_NAMES_H

#include <errno.h>
#include <stddef.h>

static const struct {
	int value;
	const char *name;
} warden_errno_names[] = {
#define WARDEN_E(x) {x, #x}
	WARDEN_E(EPERM), WARDEN_E(ENOENT), WARDEN_E(ESRCH), WARDEN_E(EINTR), WARDEN_E(EIO),
	WARDEN_E(ENXIO), WARDEN_E(E2BIG), WARDEN_E(ENOEXEC), WARDEN_E(EBADF), WARDEN_E(ECHILD),
	WARDEN_E(EAGAIN), WARDEN_E(ENOMEM), WARDEN_E(EACCES), WARDEN_E(EFAULT), WARDEN_E(EBUSY),
	WARDEN_E(EEXIST), WARDEN_E(EXDEV), WARDEN_E(ENODEV), WARDEN_E(ENOTDIR), WARDEN_E(EISDIR),
	WARDEN_E(EINVAL), WARDEN_E(ENFILE), WARDEN_E(EMFILE), WARDEN_E(ENOTTY), WARDEN_E(ETXTBSY),
	WARDEN_E(EFBIG), WARDEN_E(ENOSPC), WARDEN_E(ESPIPE), WARDEN_E(EROFS), WARDEN_E(EMLINK),
	WARDEN_E(EPIPE), WARDEN_E(ERANGE), WARDEN_E(ENAMETOOLONG), WARDEN_E(ENOSYS),
	WARDEN_E(ELOOP), WARDEN_E(ENOMSG), WARDEN_E(EUSERS), WARDEN_E(ENOTSOCK),
	WARDEN_E(EPROTOTYPE), WARDEN_E(EPROTONOSUPPORT), WARDEN_E(ESOCKTNOSUPPORT),
	WARDEN_E(EOPNOTSUPP), /* ENOTSUP has the same value on Linux */
	WARDEN_E(EAFNOSUPPORT), WARDEN_E(ECONNREFUSED), WARDEN_E(ENOKEY), WARDEN_E(EDQUOT),
#undef WARDEN_E
};

/* The errno's name, or NULL for one the table does not know (the caller prints a number). */
static inline const char *warden_errno_name(int err)
{
	for (size_t i = 0; i < sizeof warden_errno_names / sizeof warden_errno_names[0]; i++)
		if (warden_errno_names[i].value == err)
			return warden_errno_names[i].name;
	return NULL;
}

#endif
