/*
 * warden sandbox launcher.
 *
 * Builds the sandbox for one worker and then execve()s node inside it. It has to be a
 * separate single-threaded program: unshare(CLONE_NEWUSER) refuses multi-threaded
 * callers, and landlock_restrict_self() only restricts the calling thread, while node
 * has threads from its first instruction. Landlock, seccomp, namespaces and rlimits all
 * survive execve() and are inherited by every thread node creates.
 *
 * The command line, the steps, their exit codes and the rules are specified in
 * native/README.md; each step is one static function below, in README order. A failing
 * step prints exactly one line `step=<name> errno=<NAME> detail=<text>` on stderr.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/securebits.h>

#include "errno_names.h"
#include "seccomp_bpf.h"

/* ---- Kernel ABI the system headers may lack ------------------------------------- */

/* Landlock: <linux/landlock.h> on older distributions stops at ABI 1-3, so the whole
 * ABI used here is spelled out (values from the kernel uapi, identical on all arches). */
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#define LANDLOCK_RULE_PATH_BENEATH 1
#define LANDLOCK_ACCESS_FS_EXECUTE (1ULL << 0)
#define LANDLOCK_ACCESS_FS_WRITE_FILE (1ULL << 1)
#define LANDLOCK_ACCESS_FS_READ_FILE (1ULL << 2)
#define LANDLOCK_ACCESS_FS_READ_DIR (1ULL << 3)
/* bits 4-12: REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG, MAKE_SOCK,
 * MAKE_FIFO, MAKE_BLOCK, MAKE_SYM (ABI 1): handled, never granted */
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)     /* ABI 2 */
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)  /* ABI 4 */
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)

#define LL_FS_ALL ((LANDLOCK_ACCESS_FS_IOCTL_DEV << 1) - 1) /* every right up to ABI 5 */
/* The only rights a rule on a non-directory may carry (else EINVAL). */
#define LL_FS_FILE (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
		    LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | \
		    LANDLOCK_ACCESS_FS_IOCTL_DEV)

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

/* mount_setattr(2), Linux 5.12; own struct name so any libc version compiles. */
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif
struct wl_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};
#define WL_MOUNT_ATTR_RDONLY 0x1
#define WL_MOUNT_ATTR_NOSUID 0x2
#define WL_MOUNT_ATTR_NODEV 0x4
#define WL_MOUNT_ATTR_NOEXEC 0x8
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* Syscalls newer than the headers; 424+ share one number on every arch we build for. */
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef __NR_open_tree_attr
#define __NR_open_tree_attr 467
#endif
#ifndef __NR_memfd_secret
#define __NR_memfd_secret 447
#endif
#ifndef __NR_statmount
#define __NR_statmount 457
#define __NR_listmount 458
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef SECBIT_NO_CAP_AMBIENT_RAISE
#define SECBIT_NO_CAP_AMBIENT_RAISE (1 << 6)
#define SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED (1 << 7)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* ---- Steps and fatal errors ----------------------------------------------------- */

enum step {
	STEP_ARGS, STEP_FDS, STEP_PDEATHSIG, STEP_CGROUP, STEP_USERNS, STEP_IDMAP, STEP_PIDNS,
	STEP_ROOTFS, STEP_PIVOT_ROOT, STEP_RLIMITS, STEP_CAPS, STEP_NO_NEW_PRIVS,
	STEP_LANDLOCK, STEP_SECCOMP, STEP_EXECVE, STEP_NETNS /* --check netns only */
};

static const struct {
	const char *name;
	int exit_code;
} steps[] = {
	[STEP_ARGS] = {"args", 100},         [STEP_FDS] = {"fds", 101},
	[STEP_PDEATHSIG] = {"pdeathsig", 102}, [STEP_CGROUP] = {"cgroup", 114},
	[STEP_USERNS] = {"userns", 103},
	[STEP_IDMAP] = {"idmap", 104},       [STEP_PIDNS] = {"pidns", 105},
	[STEP_ROOTFS] = {"rootfs", 106},     [STEP_PIVOT_ROOT] = {"pivot_root", 107},
	[STEP_RLIMITS] = {"rlimits", 108},   [STEP_CAPS] = {"caps", 109},
	[STEP_NO_NEW_PRIVS] = {"no_new_privs", 110}, [STEP_LANDLOCK] = {"landlock", 111},
	[STEP_SECCOMP] = {"seccomp", 112},   [STEP_EXECVE] = {"execve", 113},
	[STEP_NETNS] = {"netns", 1},
};

/* In check mode a failed probe exits 1 whatever the step; bad arguments still 100. */
static bool check_mode;

static const char *errno_name(int err, char *buf, size_t len)
{
	const char *name = warden_errno_name(err);
	if (name != NULL)
		return name;
	snprintf(buf, len, "%d", err);
	return buf;
}

/* One line, one write(2): the host parses it, and paths from the command line must not
 * be able to forge a second line, so control characters are masked. */
__attribute__((noreturn, format(printf, 3, 4)))
static void die_step(enum step step, int err, const char *fmt, ...)
{
	char detail[512], line[768], num[16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	for (char *p = detail; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	int n = snprintf(line, sizeof line, "step=%s errno=%s detail=%s\n", steps[step].name,
			 errno_name(err, num, sizeof num), detail);
	if (n < 0 || (size_t)n >= sizeof line) {
		n = sizeof line - 1;
		line[n - 1] = '\n';
	}
	(void)!write(STDERR_FILENO, line, (size_t)n);
	_exit(check_mode && step != STEP_ARGS ? 1 : steps[step].exit_code);
}

/* ---- Options -------------------------------------------------------------------- */

#define IPC_FD 3
#define NEW_ROOT "/tmp" /* exists on every host; the tmpfs only shadows it in our mount ns */
#define MAX_BINDS 128
#define MAX_CGROUPS 4 /* one per cgroup v1 hierarchy used (memory, pids), one for v2 */

enum kind { KIND_NONE, KIND_PREPARE, KIND_EXECUTE };

struct bind {
	const char *src, *dest;
};

struct options {
	const char *worker_dir;
	enum kind kind;
	struct bind binds[MAX_BINDS];
	size_t n_binds;
	const char *cgroups[MAX_CGROUPS];
	size_t n_cgroups;
	uint64_t rlimit_data, rlimit_fsize, rlimit_nofile, rlimit_nproc, rlimit_stack, nice;
	uint64_t cgroup_memory, cgroup_pids;
	bool has_rlimit_data, has_rlimit_fsize, has_rlimit_nproc, has_rlimit_stack, has_nice;
	bool has_cgroup_memory, has_cgroup_pids;
	bool no_userns, no_pivot_root, no_netns, no_landlock, no_seccomp;
	char **node_argv; /* NODE, NODE_ARGS..., NULL: a tail of argv */
};

static const char *const dev_nodes[] = {"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"};
#define N_DEV_NODES (sizeof dev_nodes / sizeof dev_nodes[0])

/* DEST is a path inside the new root: absolute, no empty, "." or ".." component (they
 * would make the mount point escape NEW_ROOT or land somewhere surprising). */
static bool is_clean_absolute(const char *p)
{
	if (p[0] != '/' || p[1] == '\0' || strlen(p) >= PATH_MAX - sizeof NEW_ROOT)
		return false;
	for (const char *c = p + 1;; c = strchr(c, '/') + 1) {
		size_t len = strcspn(c, "/");
		if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (c[len] == '\0')
			return true;
	}
}

static bool is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static const char *option_value(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc || argv[*i + 1][0] == '\0')
		die_step(STEP_ARGS, 0, "option %s needs a non-empty value", argv[*i]);
	return argv[++*i];
}

static void parse_rlimit(int argc, char **argv, int *i, uint64_t *value, bool *seen, uint64_t min)
{
	const char *opt = argv[*i], *s = option_value(argc, argv, i);
	char *end;

	if (*seen)
		die_step(STEP_ARGS, 0, "option %s given twice", opt);
	errno = 0;
	*value = strtoull(s, &end, 10); /* accepts "-1" as ULLONG_MAX: hence the digit test */
	if (*s < '0' || *s > '9' || errno != 0 || *end != '\0' || *value < min ||
	    *value == (uint64_t)RLIM_INFINITY)
		die_step(STEP_ARGS, 0, "option %s must be an integer >= %llu, got '%s'", opt,
			 (unsigned long long)min, s);
	*seen = true;
}

/* DIR is the cgroup to create (it must not exist yet: an existing one could be another
 * worker's), in a cgroup filesystem. Absolute, no "." or "..": it names a host path. */
static void parse_cgroup(int argc, char **argv, int *i, struct options *o)
{
	const char *dir = option_value(argc, argv, i);

	if (o->n_cgroups == MAX_CGROUPS)
		die_step(STEP_ARGS, 0, "more than %d --cgroup options", MAX_CGROUPS);
	if (!is_clean_absolute(dir))
		die_step(STEP_ARGS, 0, "--cgroup DIR must be a clean absolute path, got '%s'", dir);
	o->cgroups[o->n_cgroups++] = dir;
}

/* Limits without a cgroup to hold them, or a cgroup without limits, are mistakes. */
static void check_cgroup_args(const struct options *o)
{
	bool limits = o->has_cgroup_memory || o->has_cgroup_pids;
	if (limits && o->n_cgroups == 0)
		die_step(STEP_ARGS, 0, "--cgroup-memory and --cgroup-pids need --cgroup");
	if (o->n_cgroups > 0 && !(o->has_cgroup_memory && o->has_cgroup_pids))
		die_step(STEP_ARGS, 0, "--cgroup needs --cgroup-memory and --cgroup-pids");
}

static bool parse_switch(const char *a, struct options *o)
{
	const struct {
		const char *name;
		bool *value;
	} switches[] = {
		{"--no-userns", &o->no_userns},     {"--no-pivot-root", &o->no_pivot_root},
		{"--no-netns", &o->no_netns},       {"--no-landlock", &o->no_landlock},
		{"--no-seccomp", &o->no_seccomp},
	};
	for (size_t i = 0; i < sizeof switches / sizeof switches[0]; i++)
		if (strcmp(a, switches[i].name) == 0)
			return *switches[i].value = true;
	return false;
}

/* Everything is checked here, before the first side effect. */
static void parse_run_args(int argc, char **argv, struct options *o)
{
	bool seen_nofile = false;
	int i = 1;

	for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *a = argv[i];
		if (parse_switch(a, o))
			continue;
		else if (strcmp(a, "--worker-dir") == 0) {
			if (o->worker_dir)
				die_step(STEP_ARGS, 0, "option --worker-dir given twice");
			o->worker_dir = option_value(argc, argv, &i);
		} else if (strcmp(a, "--kind") == 0) {
			const char *k = option_value(argc, argv, &i);
			if (o->kind != KIND_NONE)
				die_step(STEP_ARGS, 0, "option --kind given twice");
			if (strcmp(k, "prepare") == 0)
				o->kind = KIND_PREPARE;
			else if (strcmp(k, "execute") == 0)
				o->kind = KIND_EXECUTE;
			else
				die_step(STEP_ARGS, 0, "option --kind must be prepare or execute, got '%s'", k);
		} else if (strcmp(a, "--ro-bind") == 0) {
			const char *src = option_value(argc, argv, &i);
			const char *dest = option_value(argc, argv, &i);
			if (o->n_binds == MAX_BINDS)
				die_step(STEP_ARGS, 0, "more than %d --ro-bind options", MAX_BINDS);
			if (!is_clean_absolute(dest))
				die_step(STEP_ARGS, 0, "--ro-bind DEST must be a clean absolute path, got '%s'", dest);
			if (is_under(dest, "/worker") || is_under(dest, "/dev"))
				die_step(STEP_ARGS, 0, "--ro-bind DEST '%s' is reserved (/worker, /dev)", dest);
			for (size_t b = 0; b < o->n_binds; b++)
				if (strcmp(o->binds[b].dest, dest) == 0)
					die_step(STEP_ARGS, 0, "--ro-bind DEST '%s' given twice", dest);
			o->binds[o->n_binds++] = (struct bind){src, dest};
		} else if (strcmp(a, "--cgroup") == 0) {
			parse_cgroup(argc, argv, &i, o);
		} else if (strcmp(a, "--cgroup-memory") == 0) {
			parse_rlimit(argc, argv, &i, &o->cgroup_memory, &o->has_cgroup_memory, 1);
		} else if (strcmp(a, "--cgroup-pids") == 0) {
			parse_rlimit(argc, argv, &i, &o->cgroup_pids, &o->has_cgroup_pids, 1);
		} else if (strcmp(a, "--rlimit-nproc") == 0) {
			parse_rlimit(argc, argv, &i, &o->rlimit_nproc, &o->has_rlimit_nproc, 1);
		} else if (strcmp(a, "--rlimit-data") == 0) {
			parse_rlimit(argc, argv, &i, &o->rlimit_data, &o->has_rlimit_data, 1);
		} else if (strcmp(a, "--rlimit-fsize") == 0) {
			parse_rlimit(argc, argv, &i, &o->rlimit_fsize, &o->has_rlimit_fsize, 0);
		} else if (strcmp(a, "--rlimit-stack") == 0) {
			parse_rlimit(argc, argv, &i, &o->rlimit_stack, &o->has_rlimit_stack, 1);
		} else if (strcmp(a, "--rlimit-nofile") == 0) {
			/* below 4 node could not even keep stdio and the IPC fd */
			parse_rlimit(argc, argv, &i, &o->rlimit_nofile, &seen_nofile, 4);
		} else if (strcmp(a, "--nice") == 0) {
			parse_rlimit(argc, argv, &i, &o->nice, &o->has_nice, 0);
			if (o->nice > 19)
				die_step(STEP_ARGS, 0, "option --nice must be between 0 and 19, got %llu",
					 (unsigned long long)o->nice);
		} else if (strcmp(a, "--check") == 0) {
			die_step(STEP_ARGS, 0, "--check takes no other option");
		} else {
			die_step(STEP_ARGS, 0, "unknown option '%s'", a);
		}
	}
	if (i >= argc)
		die_step(STEP_ARGS, 0, "missing '-- NODE [NODE_ARGS...]'");
	if (i + 1 >= argc || argv[i + 1][0] == '\0')
		die_step(STEP_ARGS, 0, "missing NODE after '--'");
	o->node_argv = &argv[i + 1];
	if (!o->worker_dir)
		die_step(STEP_ARGS, 0, "option --worker-dir is required");
	if (strlen(o->worker_dir) >= PATH_MAX - sizeof "/tmp-artifact")
		die_step(STEP_ARGS, 0, "option --worker-dir is too long");
	if (o->kind == KIND_NONE)
		die_step(STEP_ARGS, 0, "option --kind is required");
	check_cgroup_args(o);
	/* Without a user namespace only root may create the others (README: "--no-userns: and
	 * so, unless root, no other namespace either"): no mount ns means no new root. */
	if (o->no_userns && geteuid() != 0)
		o->no_pivot_root = o->no_netns = true;
}

/* ---- Small helpers -------------------------------------------------------------- */

/* One write(2): /proc/self/{uid,gid}_map accept a single write per open. */
__attribute__((format(printf, 2, 3)))
static int write_proc(const char *path, const char *fmt, ...)
{
	char text[64];
	va_list ap;

	va_start(ap, fmt);
	int len = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, (size_t)len);
	int err = n < 0 ? errno : EIO;
	close(fd);
	errno = err;
	return n == len ? 0 : -1;
}

/* Maps the caller's ids onto themselves: nothing inside can act as another host user. */
static void step_idmap(uid_t uid, gid_t gid)
{
	/* An unprivileged process may write gid_map only once setgroups is denied, else it
	 * could drop supplementary groups used as negative permissions. ENOENT: kernel < 3.19. */
	if (write_proc("/proc/self/setgroups", "deny") < 0 && errno != ENOENT)
		die_step(STEP_IDMAP, errno, "write /proc/self/setgroups");
	if (write_proc("/proc/self/uid_map", "%u %u 1\n", (unsigned)uid, (unsigned)uid) < 0)
		die_step(STEP_IDMAP, errno, "write /proc/self/uid_map '%u %u 1'", (unsigned)uid, (unsigned)uid);
	if (write_proc("/proc/self/gid_map", "%u %u 1\n", (unsigned)gid, (unsigned)gid) < 0)
		die_step(STEP_IDMAP, errno, "write /proc/self/gid_map '%u %u 1'", (unsigned)gid, (unsigned)gid);
}

static const char *userns_hint(int err)
{
	if (err == EPERM || err == EACCES || err == ENOSPC || err == EINVAL)
		return " (user namespaces blocked? check kernel.apparmor_restrict_unprivileged_userns, "
		       "kernel.unprivileged_userns_clone, user.max_user_namespaces, or the container's "
		       "seccomp profile; else pass --no-userns)";
	return "";
}

static int landlock_abi(void)
{
	long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 0)
		die_step(STEP_LANDLOCK, errno, "%s",
			 errno == ENOSYS || errno == EOPNOTSUPP
				 ? "Landlock unsupported or disabled (needs kernel >= 5.13 and "
				   "landlock in lsm=; else pass --no-landlock)"
				 : "landlock_create_ruleset(VERSION)");
	return (int)abi;
}

static void install_filter(struct sock_filter *insns, size_t n)
{
	struct sock_fprog prog = {.len = (unsigned short)n, .filter = insns};
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
		die_step(STEP_SECCOMP, errno, "prctl(PR_SET_SECCOMP)");
}

/* ---- Run-mode steps, in order ---------------------------------------------------- */

static void step_fds(void)
{
	struct stat st;

	if (fstat(IPC_FD, &st) < 0)
		die_step(STEP_FDS, errno, "IPC fd %d is not open", IPC_FD);
	if (!S_ISSOCK(st.st_mode))
		die_step(STEP_FDS, ENOTSOCK, "IPC fd %d is not a socket", IPC_FD);
	/* execve would close it if the host left FD_CLOEXEC on */
	if (fcntl(IPC_FD, F_SETFD, 0) < 0)
		die_step(STEP_FDS, errno, "clear FD_CLOEXEC on fd %d", IPC_FD);
	if (syscall(__NR_close_range, IPC_FD + 1U, ~0U, 0U) < 0) {
		if (errno != ENOSYS)
			die_step(STEP_FDS, errno, "close_range(%d, ~0)", IPC_FD + 1);
		struct rlimit rl; /* kernel < 5.9 */
		int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
		for (int fd = IPC_FD + 1; fd < max; fd++)
			close(fd);
	}
	/* A closed stdio fd would be reused by the next open(), and die_step or node would
	 * then write into whatever landed there. */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			die_step(STEP_FDS, errno, "reopen closed fd %d on /dev/null", fd);
}

static void step_pdeathsig(pid_t host)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		die_step(STEP_PDEATHSIG, errno, "prctl(PR_SET_PDEATHSIG)");
	/* If the host died before the prctl we were already reparented: no signal will come. */
	if (getppid() != host)
		die_step(STEP_PDEATHSIG, ESRCH, "parent exited before PR_SET_PDEATHSIG");
}

/* A limit in DIR/FILE; 0 when DIR has no such file (its controller is in another hierarchy,
 * or, for the optional ones, not in this kernel), 1 once written. */
static int set_cgroup_limit(enum step step, const char *dir, const char *file, uint64_t value)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
		die_step(step, ENAMETOOLONG, "cgroup path %s/%s", dir, file);
	if (write_proc(path, "%llu\n", (unsigned long long)value) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	die_step(step, errno, "write %llu to %s", (unsigned long long)value, path);
}

/* Creates each cgroup, limits it and moves this process into it, before any namespace: the
 * cgroup namespace unshared next is rooted here, and every process of the sandbox (the
 * monitor, node, its threads) is created inside. The memory limit counts what RLIMIT_DATA
 * cannot (shared memory, page cache, kernel memory) and the pids limit holds for uid 0 too,
 * which RLIMIT_NPROC exempts. The host removes the cgroups once the monitor has exited. */
static void step_cgroup(enum step step, const char *const *dirs, size_t n, uint64_t memory, uint64_t pids)
{
	bool has_memory = false, has_pids = false;

	for (size_t i = 0; i < n; i++) {
		/* EEXIST is fatal: joining a cgroup we did not create could mean joining another
		 * worker's, under its limits and beside its processes. */
		if (mkdir(dirs[i], 0755) < 0)
			die_step(step, errno, "mkdir %s", dirs[i]);
		if (set_cgroup_limit(step, dirs[i], "memory.max", memory)) { /* v2 */
			/* Swap would let the memory limit be exceeded; and an OOM kill takes the
			 * whole worker, not one thread's process of it. */
			set_cgroup_limit(step, dirs[i], "memory.swap.max", 0);
			set_cgroup_limit(step, dirs[i], "memory.oom.group", 1);
			has_memory = true;
		} else if (set_cgroup_limit(step, dirs[i], "memory.limit_in_bytes", memory)) { /* v1 */
			/* memory+swap: present only with swap accounting; must not be below the
			 * memory limit, so it is written second. */
			set_cgroup_limit(step, dirs[i], "memory.memsw.limit_in_bytes", memory);
			has_memory = true;
		}
		has_pids |= set_cgroup_limit(step, dirs[i], "pids.max", pids) == 1;
	}
	if (!has_memory || !has_pids)
		die_step(step, ENOENT, "no %s controller in the --cgroup dirs", has_memory ? "pids" : "memory");
	for (size_t i = 0; i < n; i++) {
		char procs[PATH_MAX];
		snprintf(procs, sizeof procs, "%s/cgroup.procs", dirs[i]);
		/* "0": the writing process itself. */
		if (write_proc(procs, "0\n") < 0)
			die_step(step, errno, "join %s", dirs[i]);
	}
}

/* CLONE_NEWTIME needs CONFIG_TIME_NS (Linux 5.6); unshare fails with EINVAL for the whole
 * set of flags without it, so it is asked for only where the kernel has it. */
static bool have_time_ns(void)
{
	return access("/proc/self/ns/time", F_OK) == 0;
}

static int namespace_flags(const struct options *o)
{
	int others = CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWPID;
	if (have_time_ns())
		others |= CLONE_NEWTIME;
	if (!o->no_pivot_root)
		others |= CLONE_NEWNS;
	if (!o->no_netns)
		others |= CLONE_NEWNET;
	if (!o->no_userns)
		return CLONE_NEWUSER | others;
	return geteuid() == 0 ? others : 0;
}

/* The monotonic and boot-time clocks of the time namespace's processes start from zero: they
 * tell how long the worker has run, not how long the host has been up (uptime is what sysinfo
 * is also denied for). The kernel refuses an offset that would make a clock negative, hence
 * whole seconds, rounded down. Only possible before a process enters the namespace. */
static void set_time_offsets(enum step step)
{
	struct timespec mono, boot;

	if (clock_gettime(CLOCK_MONOTONIC, &mono) < 0 || clock_gettime(CLOCK_BOOTTIME, &boot) < 0)
		die_step(step, errno, "clock_gettime");
	if (write_proc("/proc/self/timens_offsets", "monotonic %lld 0\nboottime %lld 0\n",
		       -(long long)mono.tv_sec, -(long long)boot.tv_sec) < 0)
		die_step(step, errno, "write /proc/self/timens_offsets");
}

static void step_userns(int flags)
{
	/* With CLONE_NEWUSER the kernel creates the user namespace first and the others are
	 * owned by it, so one call works unprivileged. */
	if (unshare(flags) < 0)
		die_step(STEP_USERNS, errno, "unshare(0x%x)%s", (unsigned)flags,
			 flags & CLONE_NEWUSER ? userns_hint(errno) : "");
	if ((flags & CLONE_NEWUTS) && sethostname("warden", strlen("warden")) < 0)
		die_step(STEP_USERNS, errno, "sethostname");
	if (flags & CLONE_NEWTIME)
		set_time_offsets(STEP_USERNS);
}

static volatile pid_t monitored_child;

static void forward_as_sigkill(int sig)
{
	(void)sig;
	if (monitored_child > 0)
		kill(monitored_child, SIGKILL);
}

/* The process outside the new PID namespace: it only relays termination and status. */
__attribute__((noreturn))
static void run_monitor(pid_t child)
{
	static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP};
	struct sigaction sa = {.sa_handler = forward_as_sigkill};
	sigset_t set;
	int status;

	monitored_child = child;
	/* The IPC socket belongs to the sandboxed process: the host must see EOF as soon as
	 * it dies, not when the monitor does. */
	close(IPC_FD);
	sigemptyset(&sa.sa_mask);
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) {
		sigaction(forwarded[i], &sa, NULL);
		sigaddset(&set, forwarded[i]);
	}
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	for (;;) {
		pid_t r = waitpid(child, &status, 0);
		if (r == child)
			break;
		if (r < 0 && errno != EINTR) {
			int err = errno;
			kill(child, SIGKILL);
			die_step(STEP_PIDNS, err, "waitpid on the sandboxed child");
		}
	}
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* unshare(CLONE_NEWPID) only affects children: the next fork becomes pid 1 there. */
static void step_pidns(void)
{
	int alive[2];

	if (pipe2(alive, O_CLOEXEC) < 0)
		die_step(STEP_PIDNS, errno, "pipe2");
	pid_t pid = fork();
	if (pid < 0)
		die_step(STEP_PIDNS, errno, "fork");
	if (pid > 0) {
		close(alive[0]);
		run_monitor(pid); /* keeps alive[1] open for its whole life */
	}
	close(alive[1]);
	/* fork clears the parent-death signal. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		die_step(STEP_PIDNS, errno, "prctl(PR_SET_PDEATHSIG) in pid 1");
	/* getppid() is 0 for pid 1 of a namespace, so the monitor's liveness is read off the
	 * pipe instead: once its write end is gone the read end reports POLLHUP. */
	struct pollfd p = {.fd = alive[0], .events = POLLIN};
	if (poll(&p, 1, 0) < 0)
		die_step(STEP_PIDNS, errno, "poll on the monitor pipe");
	if (p.revents & (POLLHUP | POLLERR))
		die_step(STEP_PIDNS, ESRCH, "monitor exited before PR_SET_PDEATHSIG");
	close(alive[0]);
	/* Its own session and process group: kill(0, ...) from node would otherwise reach the
	 * monitor, which shares the group the host started, from outside the pid namespace
	 * (Landlock's signal scope stops that too, but only from ABI 6 on). */
	if (setsid() < 0)
		die_step(STEP_PIDNS, errno, "setsid in pid 1");
}

/* Sources are opened before the tmpfs is mounted on NEW_ROOT, so that paths under the
 * host's /tmp (a worker dir in os.tmpdir(), say) are not shadowed; binds then use
 * /proc/self/fd/N, which also binds exactly the inode that was checked. */
struct sources {
	int worker, artifact;
	int dev[N_DEV_NODES];
	int bind[MAX_BINDS];
	bool bind_is_dir[MAX_BINDS];
};

/* O_PATH|O_NOFOLLOW opens a symlink itself, so fstat sees it and it can be refused. */
static int open_checked(int dir, const char *path, int flags, mode_t type, bool *is_dir)
{
	struct stat st;
	int fd = openat(dir, path, flags | O_PATH | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		die_step(STEP_ROOTFS, errno, "open %s", path);
	if (type != 0 && S_ISLNK(st.st_mode))
		die_step(STEP_ROOTFS, ELOOP, "%s is a symlink", path);
	if (type != 0 && (st.st_mode & S_IFMT) != type)
		die_step(STEP_ROOTFS, EINVAL, "%s is not a %s", path,
			 type == S_IFDIR ? "directory" : type == S_IFREG ? "regular file" : "character device");
	if (is_dir)
		*is_dir = S_ISDIR(st.st_mode);
	return fd;
}

static void make_dir(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die_step(STEP_ROOTFS, errno, "mkdir %s", path);
}

static void make_mount_point(char *path, bool is_dir)
{
	for (char *p = path + strlen(NEW_ROOT) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		make_dir(path);
		*p = '/';
	}
	if (is_dir) {
		make_dir(path);
		return;
	}
	int fd = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0444);
	if (fd < 0)
		die_step(STEP_ROOTFS, errno, "create mount point %s", path);
	close(fd);
}

/* Inside a user namespace every mount inherited from the host is locked: a remount that
 * would clear its ro/nosuid/nodev/noexec flags or change its atime mode fails with
 * EPERM, so those flags are carried over from the source. */
static unsigned long locked_flags(const char *target)
{
	struct statvfs sv;
	unsigned long f = 0;

	if (statvfs(target, &sv) < 0)
		die_step(STEP_ROOTFS, errno, "statvfs %s", target);
	if (sv.f_flag & ST_RDONLY) f |= MS_RDONLY;
	if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
	/* mount(2) defaults to relatime, which would change a strictatime source's mode */
	if (!(sv.f_flag & (ST_NOATIME | ST_RELATIME)))
		f |= MS_STRICTATIME;
	return f;
}

static void bind_mount(int src_fd, const char *target, unsigned long flags, bool is_dir)
{
	char src[32];

	snprintf(src, sizeof src, "/proc/self/fd/%d", src_fd);
	if (mount(src, target, NULL, MS_BIND | MS_REC, NULL) < 0)
		die_step(STEP_ROOTFS, errno, "bind mount on %s", target);
	/* MS_RDONLY etc. are ignored on the initial MS_BIND: only a remount applies them. */
	if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | flags | locked_flags(target), NULL) < 0)
		die_step(STEP_ROOTFS, errno, "remount %s with flags 0x%lx", target, flags);
	if (!is_dir)
		return;
	/* The remount only changed the top mount; submounts carried by MS_REC get the same
	 * restrictions where mount_setattr exists (5.12+). Setting flags never hits a lock. */
	struct wl_mount_attr attr = {
		.attr_set = (flags & MS_RDONLY ? WL_MOUNT_ATTR_RDONLY : 0) |
			    (flags & MS_NOSUID ? WL_MOUNT_ATTR_NOSUID : 0) |
			    (flags & MS_NODEV ? WL_MOUNT_ATTR_NODEV : 0) |
			    (flags & MS_NOEXEC ? WL_MOUNT_ATTR_NOEXEC : 0),
	};
	if (syscall(__NR_mount_setattr, AT_FDCWD, target, AT_RECURSIVE, &attr, sizeof attr) < 0 &&
	    errno != ENOSYS)
		die_step(STEP_ROOTFS, errno, "mount_setattr(AT_RECURSIVE) on %s", target);
}

static void build_root(const struct options *o, const struct sources *s)
{
	char target[PATH_MAX];

	/* Without this, mounts below would propagate back to the host's peer group. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die_step(STEP_ROOTFS, errno, "make / private");
	if (mount("tmpfs", NEW_ROOT, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=1m,mode=0755") < 0)
		die_step(STEP_ROOTFS, errno, "mount tmpfs on " NEW_ROOT);
	for (size_t i = 0; i < o->n_binds; i++) {
		snprintf(target, sizeof target, NEW_ROOT "%s", o->binds[i].dest);
		make_mount_point(target, s->bind_is_dir[i]);
		bind_mount(s->bind[i], target, MS_RDONLY | MS_NOSUID | MS_NODEV, s->bind_is_dir[i]);
	}
	make_dir(NEW_ROOT "/dev");
	for (size_t i = 0; i < N_DEV_NODES; i++) {
		snprintf(target, sizeof target, NEW_ROOT "%s", dev_nodes[i]);
		make_mount_point(target, false);
		/* nodev would make opening the node fail; a read-only mount still lets a
		 * character device be written (only metadata changes need a writable mount). */
		bind_mount(s->dev[i], target, MS_RDONLY | MS_NOSUID | MS_NOEXEC, false);
	}
	make_dir(NEW_ROOT "/worker");
	bind_mount(s->worker, NEW_ROOT "/worker", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, true);
	if (o->kind == KIND_PREPARE)
		bind_mount(s->artifact, NEW_ROOT "/worker/tmp-artifact", MS_NOSUID | MS_NODEV | MS_NOEXEC, false);
}

static void step_rootfs(const struct options *o)
{
	struct sources s;

	s.worker = open_checked(AT_FDCWD, o->worker_dir, 0, S_IFDIR, NULL);
	/* The one file a prepare worker may write must be the regular file the host made. */
	s.artifact = o->kind == KIND_PREPARE
			     ? open_checked(s.worker, "tmp-artifact", O_NOFOLLOW, S_IFREG, NULL)
			     : -1;
	if (o->no_pivot_root) {
		/* Degraded mode: node sees the host filesystem; its cwd is the worker dir. */
		if (fchdir(s.worker) < 0)
			die_step(STEP_ROOTFS, errno, "chdir %s", o->worker_dir);
	} else {
		for (size_t i = 0; i < o->n_binds; i++)
			s.bind[i] = open_checked(AT_FDCWD, o->binds[i].src, 0, 0, &s.bind_is_dir[i]);
		for (size_t i = 0; i < N_DEV_NODES; i++)
			s.dev[i] = open_checked(AT_FDCWD, dev_nodes[i], 0, S_IFCHR, NULL);
		build_root(o, &s);
		/* These fds pin the old root; nothing may keep it alive after pivot_root. */
		for (size_t i = 0; i < o->n_binds; i++)
			close(s.bind[i]);
		for (size_t i = 0; i < N_DEV_NODES; i++)
			close(s.dev[i]);
	}
	close(s.worker);
	if (s.artifact >= 0)
		close(s.artifact);
}

static void pivot_into_cwd(enum step step)
{
	/* pivot_root(".", ".") stacks the old root on top of the new one; detaching "." then
	 * drops it without needing a directory for it inside the new root. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		die_step(step, errno, "pivot_root(., .)");
	if (umount2(".", MNT_DETACH) < 0)
		die_step(step, errno, "detach the old root");
	if (chdir("/") < 0)
		die_step(step, errno, "chdir /");
}

static void step_pivot_root(void)
{
	if (chdir(NEW_ROOT) < 0)
		die_step(STEP_PIVOT_ROOT, errno, "chdir " NEW_ROOT);
	pivot_into_cwd(STEP_PIVOT_ROOT);
	/* The tmpfs only holds mount points; it is ours, so it can be made read-only. */
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		die_step(STEP_PIVOT_ROOT, errno, "remount / read-only");
}

static void set_rlimit(int resource, const char *name, uint64_t value)
{
	struct rlimit rl = {.rlim_cur = (rlim_t)value, .rlim_max = (rlim_t)value};
	if (setrlimit(resource, &rl) < 0)
		die_step(STEP_RLIMITS, errno, "setrlimit(%s, %llu)", name, (unsigned long long)value);
}

/* Never RLIMIT_AS: V8 reserves large virtual ranges for wasm memories and guard pages. */
static void step_rlimits(const struct options *o)
{
	set_rlimit(RLIMIT_CORE, "RLIMIT_CORE", 0);
	set_rlimit(RLIMIT_NOFILE, "RLIMIT_NOFILE", o->rlimit_nofile);
	/* Counted per user and user namespace, and charged to every namespace up to the host's:
	 * left at the host's values, one worker could queue the host user's whole allowance of
	 * signals or POSIX message queue bytes, or lock its memory. Node needs none of them. */
	set_rlimit(RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING", 64);
	set_rlimit(RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE", 0);
	set_rlimit(RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK", 0);
	/* Tasks of this user in the worker's user namespace (the monitor, node and its threads).
	 * The kernel does not apply it to uid 0: the pids cgroup is what holds there. */
	if (o->has_rlimit_nproc)
		set_rlimit(RLIMIT_NPROC, "RLIMIT_NPROC", o->rlimit_nproc);
	if (o->has_rlimit_fsize)
		set_rlimit(RLIMIT_FSIZE, "RLIMIT_FSIZE", o->rlimit_fsize);
	/* The main thread's stack: an execute worker runs its job there, with a V8 stack limit of
	 * jobStackMb (the worker sets it); the stack must be able to grow that far. */
	if (o->has_rlimit_stack)
		set_rlimit(RLIMIT_STACK, "RLIMIT_STACK", o->rlimit_stack);
	if (o->has_rlimit_data)
		set_rlimit(RLIMIT_DATA, "RLIMIT_DATA", o->rlimit_data);
	/* Relative, so it only ever lowers the priority (allowed without privilege): the host
	 * that schedules the jobs must not be starved by the untrusted code it runs. nice(2)
	 * may legitimately return -1, hence errno. */
	if (o->has_nice && o->nice > 0) {
		errno = 0;
		if (nice((int)o->nice) == -1 && errno != 0)
			die_step(STEP_RLIMITS, errno, "nice(%llu)", (unsigned long long)o->nice);
	}
}

static bool have_permitted_caps(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) < 0)
		die_step(STEP_CAPS, errno, "capget");
	return data[0].permitted != 0 || data[1].permitted != 0;
}

static void step_caps(void)
{
	/* Dropping from the bounding set and locking securebits need CAP_SETPCAP. Without it
	 * (no user namespace, not root) the EPERM is harmless only if nothing is permitted. */
	bool privileged = have_permitted_caps();

	for (unsigned long cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno == EINVAL) /* past the kernel's last capability */
			break;
		if (errno == EPERM && !privileged)
			break;
		die_step(STEP_CAPS, errno, "PR_CAPBSET_DROP %lu", cap);
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		die_step(STEP_CAPS, errno, "PR_CAP_AMBIENT_CLEAR_ALL");
	/* NOROOT: uid 0 (root, or mapped root) gains nothing from execve; the locks make
	 * every bit permanent for node and its descendants. */
	unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
			     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
			     SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
	if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0 && !(errno == EPERM && !privileged))
		die_step(STEP_CAPS, errno, "PR_SET_SECUREBITS 0x%lx", bits);
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct none[2] = {{0, 0, 0}, {0, 0, 0}};
	if (syscall(SYS_capset, &hdr, none) < 0)
		die_step(STEP_CAPS, errno, "capset(0)");
	if (have_permitted_caps())
		die_step(STEP_CAPS, 0, "capabilities still permitted after capset(0)");
}

/* Landlock (without CAP_SYS_ADMIN) and seccomp filters require it; it also makes
 * set-user-ID bits and file capabilities inert for node and its children. */
static void step_no_new_privs(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die_step(STEP_NO_NEW_PRIVS, errno, "prctl(PR_SET_NO_NEW_PRIVS)");
}

static void landlock_allow(int ruleset, const char *path, int flags, uint64_t access,
			   uint64_t handled)
{
	struct stat st;
	int fd = open(path, O_PATH | O_CLOEXEC | flags);
	if (fd < 0 || fstat(fd, &st) < 0)
		die_step(STEP_LANDLOCK, errno, "open rule path %s", path);
	if (!S_ISDIR(st.st_mode))
		access &= LL_FS_FILE;
	struct ll_path_beneath_attr rule = {.allowed_access = access & handled, .parent_fd = fd};
	if (syscall(__NR_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) < 0)
		die_step(STEP_LANDLOCK, errno, "landlock_add_rule %s 0x%llx", path,
			 (unsigned long long)rule.allowed_access);
	close(fd);
}

static void step_landlock(const struct options *o)
{
	const uint64_t read = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
	struct ll_ruleset_attr attr = {
		.handled_access_fs = LL_FS_ALL,
		.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP,
		.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL,
	};
	char worker_dir[PATH_MAX], artifact[PATH_MAX];

	/* A right unknown to the running kernel makes the ruleset EINVAL: strip by ABI. */
	switch (landlock_abi()) {
	case 1:
		attr.handled_access_fs &= ~LANDLOCK_ACCESS_FS_REFER;
		/* fallthrough */
	case 2:
		attr.handled_access_fs &= ~LANDLOCK_ACCESS_FS_TRUNCATE;
		/* fallthrough */
	case 3:
		attr.handled_access_net = 0;
		/* fallthrough */
	case 4:
		attr.handled_access_fs &= ~LANDLOCK_ACCESS_FS_IOCTL_DEV;
		/* fallthrough */
	case 5:
		attr.scoped = 0;
	}
	/* The full struct is passed: the kernel accepts a larger struct if the bytes it does
	 * not know are zero, which the stripping above guarantees. */
	int ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (ruleset < 0)
		die_step(STEP_LANDLOCK, errno, "landlock_create_ruleset");

	/* Rules name what node will see: paths in the new root, or host paths without one.
	 * Landlock attaches rules to inodes, so a bind mount and its source are the same. */
	snprintf(worker_dir, sizeof worker_dir, "%s", o->no_pivot_root ? o->worker_dir : "/worker");
	if (snprintf(artifact, sizeof artifact, "%s/tmp-artifact", worker_dir) >= (int)sizeof artifact)
		die_step(STEP_LANDLOCK, ENAMETOOLONG, "worker dir path too long");
	uint64_t h = attr.handled_access_fs;
	for (size_t i = 0; i < o->n_binds; i++)
		landlock_allow(ruleset, o->no_pivot_root ? o->binds[i].src : o->binds[i].dest, 0,
			       read | LANDLOCK_ACCESS_FS_EXECUTE, h);
	landlock_allow(ruleset, "/dev/null", 0,
		       LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE, h);
	for (size_t i = 1; i < N_DEV_NODES; i++)
		landlock_allow(ruleset, dev_nodes[i], 0, LANDLOCK_ACCESS_FS_READ_FILE, h);
	landlock_allow(ruleset, worker_dir, O_DIRECTORY, read, h);
	if (o->kind == KIND_PREPARE)
		landlock_allow(ruleset, artifact, O_NOFOLLOW,
			       LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
				       LANDLOCK_ACCESS_FS_TRUNCATE, h);
	if (syscall(__NR_landlock_restrict_self, ruleset, 0) < 0)
		die_step(STEP_LANDLOCK, errno, "landlock_restrict_self");
	close(ruleset);
}

/* ---- seccomp filter --------------------------------------------------------------- */

#define LOAD WARDEN_BPF_LOAD
#define LOAD_ARG WARDEN_BPF_LOAD_ARG
#define RET WARDEN_BPF_RET
#define RET_ERRNO WARDEN_BPF_RET_ERRNO
#define JUMP_IF_SET(bits, jt, jf) BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, (bits), (jt), (jf))
#define JUMP_IF_EQ(value, jt, jf) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (value), (jt), (jf))
#define CLONE_NS_FLAGS (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | \
			CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME)

/* Plain denials; a syscall the arch lacks (iopl on aarch64) is simply left out. */
static const struct {
	int nr;
	int err;
} denied_syscalls[] = {
#define DENY(name) {__NR_##name, EPERM}
#ifdef __NR_io_uring_setup
	DENY(io_uring_setup), DENY(io_uring_enter), DENY(io_uring_register),
#endif
	DENY(ptrace), DENY(process_vm_readv), DENY(process_vm_writev),
	DENY(mount), DENY(umount2), DENY(pivot_root), DENY(chroot),
#ifdef __NR_umount
	DENY(umount),
#endif
#ifdef __NR_open_tree
	DENY(open_tree), DENY(move_mount), DENY(fsopen), DENY(fsconfig), DENY(fsmount), DENY(fspick),
#endif
	DENY(mount_setattr), DENY(open_tree_attr),
	/* The mount table names each bind's source path on the host (the cache dir). */
	DENY(statmount), DENY(listmount),
	DENY(unshare), DENY(setns), DENY(bpf), DENY(perf_event_open), DENY(userfaultfd),
	DENY(keyctl), DENY(add_key), DENY(request_key),
	DENY(kexec_load), DENY(kexec_file_load),
	DENY(init_module), DENY(finit_module), DENY(delete_module),
	DENY(swapon), DENY(swapoff), DENY(reboot), DENY(acct), DENY(quotactl),
#ifdef __NR_quotactl_fd
	DENY(quotactl_fd),
#endif
	DENY(name_to_handle_at), DENY(open_by_handle_at),
#ifdef __NR_pidfd_getfd
	DENY(pidfd_getfd),
#endif
#ifdef __NR_process_madvise
	DENY(process_madvise),
#endif
#ifdef __NR_iopl
	DENY(iopl),
#endif
#ifdef __NR_ioperm
	DENY(ioperm),
#endif
#ifdef __NR_modify_ldt
	DENY(modify_ldt), /* 16-bit segments: a classic kernel attack surface, nothing node uses */
#endif
	/* Memory RLIMIT_DATA does not count: shared memory (shmem pages belong to no process's
	 * data segment, and SysV segments and memfds outlive their mappings). The IPC namespace
	 * is the worker's own, so no segment of the host's could be reached anyway. */
	DENY(shmget), DENY(shmat), DENY(msgget), DENY(semget), DENY(mq_open),
	DENY(memfd_create), DENY(memfd_secret),
	/* Machine-wide quotas one worker could use up for everyone: fs.aio-max-nr (io_setup),
	 * and the inotify/fanotify instances counted against the host user in every user
	 * namespace up to the initial one. */
	DENY(io_setup), DENY(io_submit),
#ifdef __NR_inotify_init
	DENY(inotify_init),
#endif
	DENY(inotify_init1), DENY(fanotify_init),
	/* The host's total and free RAM, load average, uptime and task count. Node asks at
	 * startup (libuv's total memory, when /proc/meminfo is missing) and takes the error as
	 * "unknown": V8 then keeps its own default heap limit (1.4 GiB on x86_64) instead of one
	 * sized from the host's RAM. glibc's qsort asks too (to size a buffer) and sorts either way. */
	DENY(sysinfo),
#ifdef __NR_clone3
	/* ENOSYS, not EPERM: glibc then falls back to clone(2), whose flags we can inspect
	 * (clone3 passes them in memory, out of BPF's reach). */
	{__NR_clone3, ENOSYS},
#endif
#undef DENY
};

#define MAX_INSNS 512
struct filter {
	struct sock_filter insns[MAX_INSNS];
	size_t n;
};

static void emit(struct filter *f, struct sock_filter insn)
{
	if (f->n == MAX_INSNS)
		die_step(STEP_SECCOMP, 0, "filter longer than %d instructions", MAX_INSNS);
	f->insns[f->n++] = insn;
}

/* "if (nr == NR) { block }": the skip length is computed, never hand-counted. Every
 * block ends in a return, so the accumulator (the syscall number) is only clobbered on
 * paths that never reach the next test. */
static void emit_block(struct filter *f, int nr, const struct sock_filter *block, size_t n)
{
	emit(f, (struct sock_filter)JUMP_IF_EQ((unsigned)nr, 0, (unsigned char)n));
	for (size_t i = 0; i < n; i++)
		emit(f, block[i]);
}

static void build_launcher_filter(struct filter *f)
{
	static const struct sock_filter prologue[] = {WARDEN_BPF_PROLOGUE};
	/* A shared mapping is shmem (of /dev/zero, of an anonymous region), which RLIMIT_DATA
	 * does not count; a MAP_GROWSDOWN region counts as stack, not data. Neither V8 nor
	 * glibc maps either: private mappings only. The type is the low bits of the flags
	 * (MAP_SHARED 1, MAP_PRIVATE 2, MAP_SHARED_VALIDATE 3). */
	static const struct sock_filter mmap_private_only[] = {
		LOAD_ARG(3),
		JUMP_IF_SET(MAP_SHARED | MAP_GROWSDOWN, 0, 1),
		RET_ERRNO(EPERM),
		RET(SECCOMP_RET_ALLOW),
	};
	/* Mode 0 grows the file and so is bounded by RLIMIT_FSIZE; FALLOC_FL_KEEP_SIZE (and
	 * every other mode) allocates blocks past the size, which no limit counts. */
	static const struct sock_filter fallocate_mode_0[] = {
		LOAD_ARG(1),
		JUMP_IF_EQ(0, 0, 1),
		RET(SECCOMP_RET_ALLOW),
		RET_ERRNO(EPERM),
	};
	/* The domain is an int: the kernel ignores the upper half of the register. */
	static const struct sock_filter unix_only[] = {
		LOAD_ARG(0),
		JUMP_IF_EQ(AF_UNIX, 0, 1),
		RET(SECCOMP_RET_ALLOW),
		RET_ERRNO(EAFNOSUPPORT),
	};
	/* clone(2) takes its flags in the first argument on both arches. */
	static const struct sock_filter clone_no_ns[] = {
		LOAD_ARG(0),
		JUMP_IF_SET(CLONE_NS_FLAGS, 0, 1),
		RET_ERRNO(EPERM),
		RET(SECCOMP_RET_ALLOW),
	};
	/* TIOCSTI pushes input into a terminal we may share with the host; TIOCLINUX can
	 * read the console. The kernel truncates the request to 32 bits, so do we. */
	static const struct sock_filter ioctl_no_tty_inject[] = {
		LOAD_ARG(1),
		JUMP_IF_EQ(TIOCSTI, 2, 0),
		JUMP_IF_EQ(TIOCLINUX, 1, 0),
		RET(SECCOMP_RET_ALLOW),
		RET_ERRNO(EPERM),
	};
#define BLOCK(nr, b) emit_block(f, nr, b, sizeof b / sizeof b[0])

	for (size_t i = 0; i < sizeof prologue / sizeof prologue[0]; i++)
		emit(f, prologue[i]);
	/* The kernel caches a verdict that does not depend on arguments and skips the program
	 * for those syscalls; the ones that read arguments run it, so they are tested first,
	 * the most frequent (mmap) at the top. */
	BLOCK(__NR_mmap, mmap_private_only);
	BLOCK(__NR_ioctl, ioctl_no_tty_inject);
	BLOCK(__NR_clone, clone_no_ns);
	BLOCK(__NR_socket, unix_only);
	BLOCK(__NR_socketpair, unix_only);
	BLOCK(__NR_fallocate, fallocate_mode_0);
	for (size_t i = 0; i < sizeof denied_syscalls / sizeof denied_syscalls[0]; i++) {
		struct sock_filter deny[] = {RET_ERRNO(denied_syscalls[i].err)};
		BLOCK(denied_syscalls[i].nr, deny);
	}
	emit(f, (struct sock_filter)RET(SECCOMP_RET_ALLOW));
#undef BLOCK
}

static void step_seccomp(void)
{
	static struct filter f;
	build_launcher_filter(&f);
	install_filter(f.insns, f.n);
}

__attribute__((noreturn))
static void step_execve(const struct options *o)
{
	/* An explicit empty environment: nothing of the host's leaks in. */
	char *const envp[] = {NULL};
	execve(o->node_argv[0], o->node_argv, envp);
	die_step(STEP_EXECVE, errno, "execve %s", o->node_argv[0]);
}

static int run(const struct options *o, pid_t host)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int ns = namespace_flags(o);

	step_fds();
	step_pdeathsig(host);
	if (o->n_cgroups > 0)
		step_cgroup(STEP_CGROUP, o->cgroups, o->n_cgroups, o->cgroup_memory, o->cgroup_pids);
	if (ns != 0)
		step_userns(ns);
	if (ns & CLONE_NEWUSER)
		step_idmap(uid, gid);
	if (ns & CLONE_NEWPID)
		step_pidns(); /* from here on: pid 1 of the new namespace */
	step_rootfs(o);
	if (!o->no_pivot_root)
		step_pivot_root();
	step_rlimits(o);
	step_caps();
	step_no_new_privs();
	if (!o->no_landlock)
		step_landlock(o);
	if (!o->no_seccomp)
		step_seccomp();
	step_execve(o);
}

/* ---- Check modes: each probe runs in a child so the launcher itself is unchanged ---- */

static void probe_landlock(void)
{
	struct ll_ruleset_attr attr = {
		.handled_access_fs = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR,
	};

	step_no_new_privs();
	int ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (ruleset < 0)
		die_step(STEP_LANDLOCK, errno, "landlock_create_ruleset");
	if (syscall(__NR_landlock_restrict_self, ruleset, 0) < 0)
		die_step(STEP_LANDLOCK, errno, "landlock_restrict_self");
	DIR *d = opendir(".");
	if (d != NULL)
		die_step(STEP_LANDLOCK, 0, "ruleset applied but the cwd is still readable");
	if (errno != EACCES)
		die_step(STEP_LANDLOCK, errno, "opendir(.) under the ruleset");
}

/* --check cgroup's dirs: the probe creates, limits and joins them; they are removed as soon
 * as it has exited, whatever its outcome. */
static struct options check_cgroups;

static void remove_check_cgroups(void)
{
	for (size_t i = 0; i < check_cgroups.n_cgroups; i++)
		rmdir(check_cgroups.cgroups[i]);
}

static void wait_probe(pid_t pid, enum step step, const char *what)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die_step(step, errno, "waitpid %s", what);
	remove_check_cgroups();
	if (WIFSIGNALED(status))
		die_step(step, 0, "%s killed by signal %d", what, WTERMSIG(status));
	if (WEXITSTATUS(status) != 0) /* it printed its own step= line */
		_exit(1);
}

static void probe_userns(void)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char cwd[PATH_MAX];

	int timens = have_time_ns() ? CLONE_NEWTIME : 0;

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | timens) < 0)
		die_step(STEP_USERNS, errno, "unshare(user, mount, pid%s)%s", timens ? ", time" : "",
			 userns_hint(errno));
	step_idmap(uid, gid);
	if (timens)
		set_time_offsets(STEP_USERNS);
	pid_t pid = fork();
	if (pid < 0)
		die_step(STEP_PIDNS, errno, "fork");
	if (pid > 0) {
		wait_probe(pid, STEP_PIDNS, "pid 1 of the probe");
		return;
	}
	/* The mount and pivot happen where the host will put worker dirs: a cache dir on a
	 * filesystem or under a mount that refuses them must show up here. */
	if (getcwd(cwd, sizeof cwd) == NULL)
		die_step(STEP_ROOTFS, errno, "getcwd");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die_step(STEP_ROOTFS, errno, "make / private");
	if (mount("tmpfs", cwd, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755") < 0)
		die_step(STEP_ROOTFS, errno, "mount tmpfs on %s", cwd);
	if (chdir(cwd) < 0)
		die_step(STEP_ROOTFS, errno, "chdir %s", cwd);
	pivot_into_cwd(STEP_PIVOT_ROOT);
	_exit(0);
}

static void probe_seccomp(void)
{
	struct sock_filter insns[] = {
		WARDEN_BPF_PROLOGUE
		JUMP_IF_EQ(__NR_uname, 0, 1),
		RET_ERRNO(EPERM),
		RET(SECCOMP_RET_ALLOW),
	};
	struct utsname u;

	step_no_new_privs();
	install_filter(insns, sizeof insns / sizeof insns[0]);
	if (uname(&u) == 0)
		die_step(STEP_SECCOMP, 0, "filter installed but uname still succeeds");
	if (errno != EPERM)
		die_step(STEP_SECCOMP, errno, "uname under the filter");
}

static void probe_netns(void)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();

	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
		die_step(STEP_USERNS, errno, "unshare(user, net)%s", userns_hint(errno));
	step_idmap(uid, gid);
	struct if_nameindex *ifs = if_nameindex();
	if (ifs == NULL)
		die_step(STEP_NETNS, errno, "if_nameindex");
	for (struct if_nameindex *i = ifs; i->if_index != 0; i++)
		if (strcmp(i->if_name, "lo") != 0)
			die_step(STEP_NETNS, 0, "new network namespace has interface %s", i->if_name);
	if (ifs[0].if_index == 0)
		die_step(STEP_NETNS, 0, "new network namespace has no lo");
	if_freenameindex(ifs);
}

static void probe_cgroup(void)
{
	step_cgroup(STEP_CGROUP, check_cgroups.cgroups, check_cgroups.n_cgroups, 64 << 20, 1);
	/* This process is the only one in its cgroups and pids.max is 1: a fork must fail. */
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid > 0) {
		waitpid(pid, NULL, 0);
		die_step(STEP_CGROUP, 0, "a fork succeeded under pids.max 1");
	}
	if (errno != EAGAIN)
		die_step(STEP_CGROUP, errno, "fork under pids.max 1");
}

/* The features `--check all` checks, one child each; the cgroup's needs the host's dirs. */
static const char *const all_checks[] = {"userns", "netns", "seccomp", "landlock"};
#define N_ALL_CHECKS (sizeof all_checks / sizeof all_checks[0])

static int run_check(int argc, char **argv);

/* Everything a child wrote to its pipe, up to the buffer, on one line (newlines masked). */
static void read_check_output(int fd, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < len && ((r = read(fd, buf + n, len - 1 - n)) > 0 || (r < 0 && errno == EINTR)))
		if (r > 0)
			n += (size_t)r;
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/* --check all: the host's startup check in one process instead of one per feature (each
 * spawn costs the host several ms of CPU). Every probe runs at once, as `--check FEATURE`
 * would, in a child of its own whose stdout and stderr go to a pipe; then one line per
 * feature, in order: "FEATURE ok WHAT-IT-SAW" or "FEATURE fail STEP-LINE". */
static int run_check_all(char *argv0)
{
	pid_t pids[N_ALL_CHECKS];
	int fds[N_ALL_CHECKS];

	for (size_t i = 0; i < N_ALL_CHECKS; i++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			die_step(STEP_ARGS, errno, "pipe2");
		pids[i] = fork();
		if (pids[i] < 0)
			die_step(STEP_ARGS, errno, "fork");
		if (pids[i] == 0) {
			char *args[] = {argv0, "--check", (char *)all_checks[i], NULL};
			if (dup2(p[1], STDOUT_FILENO) < 0 || dup2(p[1], STDERR_FILENO) < 0)
				_exit(1);
			int ret = run_check(3, args);
			_exit(fflush(stdout) == 0 ? ret : 1);
		}
		close(p[1]);
		fds[i] = p[0];
	}
	for (size_t i = 0; i < N_ALL_CHECKS; i++) {
		char out[1024];
		int status;

		read_check_output(fds[i], out, sizeof out);
		close(fds[i]);
		while (waitpid(pids[i], &status, 0) < 0)
			if (errno != EINTR)
				die_step(STEP_ARGS, errno, "waitpid --check %s", all_checks[i]);
		if (WIFSIGNALED(status))
			printf("%s fail step=%s errno=- detail=probe killed by signal %d\n", all_checks[i],
			       all_checks[i], WTERMSIG(status));
		else
			printf("%s %s %s\n", all_checks[i], WEXITSTATUS(status) == 0 ? "ok" : "fail", out);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

static int run_check(int argc, char **argv)
{
	static const struct {
		const char *feature;
		enum step step;
		void (*probe)(void);
		const char *ok;
	} checks[] = {
		{"landlock", STEP_LANDLOCK, probe_landlock, "enforced=1"},
		{"userns", STEP_USERNS, probe_userns, "userns=1 pivot_root=1"},
		{"seccomp", STEP_SECCOMP, probe_seccomp, "seccomp=1"},
		{"netns", STEP_NETNS, probe_netns, "netns=1"},
		{"cgroup", STEP_CGROUP, probe_cgroup, "cgroup=1 memory=1 pids=1"},
	};
	const char *usage = "usage: --check all|landlock|userns|seccomp|netns, or --check cgroup --cgroup DIR...";

	if (argc == 3 && strcmp(argv[2], "all") == 0)
		return run_check_all(argv[0]);
	if (argc >= 3 && strcmp(argv[2], "cgroup") == 0) {
		for (int i = 3; i < argc; i++) {
			if (strcmp(argv[i], "--cgroup") != 0)
				die_step(STEP_ARGS, 0, "%s", usage);
			parse_cgroup(argc, argv, &i, &check_cgroups);
		}
		if (check_cgroups.n_cgroups == 0)
			die_step(STEP_ARGS, 0, "%s", usage);
	} else if (argc != 3) {
		die_step(STEP_ARGS, 0, "%s", usage);
	}
	for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
		if (strcmp(argv[2], checks[i].feature) != 0)
			continue;
		check_mode = true;
		int abi = checks[i].step == STEP_LANDLOCK ? landlock_abi() : 0;
		pid_t pid = fork();
		if (pid < 0)
			die_step(checks[i].step, errno, "fork");
		if (pid == 0) {
			checks[i].probe();
			_exit(0);
		}
		wait_probe(pid, checks[i].step, "probe");
		if (abi > 0)
			printf("abi=%d ", abi);
		if (checks[i].step == STEP_USERNS && have_time_ns())
			printf("timens=1 ");
		printf("%s\n", checks[i].ok);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	die_step(STEP_ARGS, 0, "unknown --check feature '%s'", argv[2]);
}

int main(int argc, char **argv)
{
	static struct options o = {.rlimit_nofile = 64};
	pid_t host = getppid();

	/* An inherited SIG_IGN for SIGCHLD makes the kernel reap children itself, and the
	 * monitor's and the probes' waitpid would then lose the exit status. */
	signal(SIGCHLD, SIG_DFL);
	if (argc >= 2 && strcmp(argv[1], "--check") == 0)
		return run_check(argc, argv);
	parse_run_args(argc, argv, &o);
	return run(&o, host);
}
