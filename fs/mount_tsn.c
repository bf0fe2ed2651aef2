/*
 * mount_tsn.c: mount.tsn, the FUSE driver: parses the options (opts.c),
 * opens the store, starts the node (net/node.h) and the control socket
 * (net/control.h, so `tsn status` and `tsn put` reach the mounted node),
 * loads the file system (fs.h), mounts, and serves with libfuse's
 * multi-threaded loop until unmounted or signalled. Then: commit what is
 * still open, stop the control socket, quiesce the pushes, stop the node,
 * free the fs, close the store.
 *
 * Without -f it forks first (before any thread) and the parent waits on a
 * pipe until the child reports the mount ready or why it failed, so its
 * exit status tells (0 mounted, 1 failed, 2 usage) as mount(8) expects.
 * The daemon's log then goes to DATADIR/mount.log.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "publish.h"
#include "fs_i.h"
#include "node.h"
#include "opts.h"
#include "util.h"

struct run {
	struct tsn_mount_opts o;
	char mountpoint[PATH_MAX];
	int report_fd;            /* the parent's pipe, or -1 */
};

/* One line on stderr, or through the pipe to the waiting parent. */
static void __attribute__((format(printf, 2, 3)))
fail(struct run *r, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (r->report_fd >= 0) {
		if (write(r->report_fd, line, strlen(line)) < 0)
			(void)0;
		close(r->report_fd);
		r->report_fd = -1;
	} else
		fprintf(stderr, "mount.tsn: %s\n", line);
}

/* In the background: stderr to DATADIR/mount.log. */
static void
log_to_file(const char *datadir)
{
	char path[TSN_MOUNT_PATH_MAX + 16];
	int fd;

	snprintf(path, sizeof(path), "%s/mount.log", datadir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0)
		return;
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* The mount is up: release the parent (status 0) and leave the terminal. */
static void
ready(struct run *r)
{
	int fd;

	if (r->report_fd < 0)
		return;
	if (write(r->report_fd, "", 1) < 0)
		(void)0;
	close(r->report_fd);
	r->report_fd = -1;
	log_to_file(r->o.datadir);
	if (chdir("/") != 0)
		(void)0; /* every path in use is absolute */
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

/* `tsn leave` did it: no second leave at unmount (leave_on_exit). */
static atomic_int has_left;

/* control on_leave: `tsn leave` handed everything on; unmount as on SIGTERM. */
static void
left(void *ud)
{
	(void)ud;
	atomic_store(&has_left, 1);
	kill(getpid(), SIGTERM);
}

static struct fuse_session *
session_new(struct run *r, struct tsn_fs *fs)
{
	char opts[TSN_MOUNT_PATH_MAX + 256];
	char *argv[4] = {"mount.tsn", "-o", opts, NULL};
	struct fuse_args args;
	struct fuse_session *se;

	snprintf(opts, sizeof(opts), "fsname=%s,subtype=tsn,default_permissions%s%s",
	         r->o.source, r->o.fuse_opts[0] ? "," : "", r->o.fuse_opts);
	if (r->o.debug)
		argv[3] = "-d";
	args.argc = r->o.debug ? 4 : 3;
	args.argv = argv;
	args.allocated = 0;
	se = fuse_session_new(&args, tsn_fs_ops(), sizeof(struct fuse_lowlevel_ops), fs);
	fuse_opt_free_args(&args);
	return se;
}

static int
serve(struct run *r, const sigset_t *sigs)
{
	struct tsn_store_opts so = {.quota = r->o.quota};
	struct tsn_node_opts no;
	struct tsn_control_opts co;
	struct tsn_fs_opts fo;
	struct tsn_store *store = NULL;
	struct tsn_node *node = NULL;
	struct tsn_control *ctl = NULL;
	struct tsn_publisher *pub = NULL;
	struct tsn_publisher_opts po = {0};
	struct tsn_fs *fs = NULL;
	struct fuse_session *se = NULL;
	struct fuse_loop_config *cfg = NULL;
	char err[512] = "";
	int rc, status = 1, served = 0;

	if ((rc = tsn_mkdir_parents(r->o.datadir)) != 0) {
		fail(r, "cannot create the parents of data dir %s: %s", r->o.datadir, strerror(-rc));
		goto out0;
	}
	if ((rc = tsn_store_open(&store, r->o.datadir, &so, err, sizeof(err))) != 0) {
		fail(r, "%s", err[0] ? err : strerror(-rc));
		goto out0;
	}
	memset(&no, 0, sizeof(no));
	no.store = store;
	no.datadir = r->o.datadir;
	no.host = r->o.host[0] ? r->o.host : "0.0.0.0";
	no.port = (uint16_t)r->o.port;
	memcpy(no.bootstrap, r->o.boot, sizeof(r->o.boot));
	no.nbootstrap = r->o.nboot;
	no.replicas = r->o.replicas;
	no.timeout_ms = r->o.timeout_ms;
	no.repair_interval_ms = r->o.repair_ms;
	no.republish_interval_ms = r->o.republish_ms;
	no.records_interval_ms = r->o.records_ms;
	no.held_ttl_ms = r->o.held_ttl_ms;
	if ((rc = tsn_node_start(&node, &no, err, sizeof(err))) != 0) {
		fail(r, "%s", err[0] ? err : strerror(-rc));
		goto out1;
	}
	po.store = store;
	po.node = node;
	po.republish_ms = r->o.republish_ms;
	if ((rc = tsn_publisher_new(&pub, &po)) != 0) {
		fail(r, "cannot start keyword publishing: %s", strerror(-rc));
		goto out2;
	}
	memset(&co, 0, sizeof(co));
	co.store = store;
	co.node = node;
	co.publisher = pub;
	co.on_leave = left;
	if ((rc = tsn_control_start(&ctl, &co, err, sizeof(err))) != 0) {
		fail(r, "%s", err);
		goto out2;
	}
	memset(&fo, 0, sizeof(fo));
	fo.store = store;
	fo.node = node;
	fo.publisher = pub;
	fo.timeout_ms = r->o.timeout_ms;
	fo.uid = getuid();
	fo.gid = getgid();
	if ((rc = tsn_fs_new(&fs, &fo, err, sizeof(err))) != 0) {
		fail(r, "%s", err);
		goto out3;
	}
	fs->mountpoint = r->mountpoint;
	fs->ra_kb = r->o.readahead_set ? r->o.readahead_kb : FS_READAHEAD_KB;
	if ((se = session_new(r, fs)) == NULL) {
		fail(r, "cannot start FUSE with options '%s'", r->o.fuse_opts);
		goto out4;
	}
	tsn_fs_set_session(fs, se);
	if (fuse_set_signal_handlers(se) != 0) {
		fail(r, "cannot install signal handlers");
		goto out5;
	}
	if (fuse_session_mount(se, r->mountpoint) != 0) {
		fail(r, "cannot mount at %s (see the line above)", r->mountpoint);
		goto out6;
	}
	ready(r);
	tsn_log(TSN_LOG_INFO, "mount.tsn: mounted at %s, node port %u", r->mountpoint,
	        (unsigned)tsn_node_port(node));
	if ((cfg = fuse_loop_cfg_create()) == NULL) {
		tsn_log(TSN_LOG_ERROR, "mount.tsn: out of memory");
		goto out7;
	}
	fuse_loop_cfg_set_max_threads(cfg, FS_MAX_THREADS);
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	/* Signals reach this thread only (the others block them). */
	pthread_sigmask(SIG_UNBLOCK, sigs, NULL);
	rc = fuse_session_loop_mt(se, cfg);
	pthread_sigmask(SIG_BLOCK, sigs, NULL);
	fuse_loop_cfg_destroy(cfg);
	status = rc < 0 ? 1 : 0;
	served = 1;
	tsn_log(TSN_LOG_INFO, "mount.tsn: leaving %s", r->mountpoint);
out7:
	fuse_session_unmount(se);
out6:
	fuse_remove_signal_handlers(se);
out5:
	if (tsn_fs_flush_all(fs) < 0)
		status = 1;
	fuse_session_destroy(se);
out4:
	tsn_fs_quiesce(fs);
out3:
	tsn_control_stop(ctl);
	if (r->o.leave_on_exit && served && !atomic_load(&has_left))
		(void)tsn_node_leave_report(node, "mount.tsn");
out2:
	tsn_publisher_free(pub);
	tsn_node_stop(node);
	tsn_fs_free(fs);
out1:
	tsn_store_close(store);
out0:
	return status;
}

/* Make a relative path absolute (the daemon leaves its working directory). */
static int
absolute(char *path, size_t cap)
{
	char cwd[PATH_MAX], tmp[TSN_MOUNT_PATH_MAX];
	int n;

	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -errno;
	n = snprintf(tmp, sizeof(tmp), "%s/%s", cwd, path);
	if (n < 0 || (size_t)n >= sizeof(tmp) || (size_t)n >= cap)
		return -ENAMETOOLONG;
	memcpy(path, tmp, (size_t)n + 1);
	return 0;
}

/* Fork; the parent returns the child's verdict, the child -1. */
static int
background(struct run *r)
{
	char msg[1024];
	ssize_t n, got = 0;
	int fds[2];
	pid_t pid;

	if (pipe(fds) != 0) {
		fprintf(stderr, "mount.tsn: pipe: %s\n", strerror(errno));
		return 1;
	}
	if ((pid = fork()) < 0) {
		fprintf(stderr, "mount.tsn: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(fds[0]);
		r->report_fd = fds[1];
		setsid();
		return -1;
	}
	close(fds[1]);
	while ((size_t)got < sizeof(msg) - 1 &&
	       ((n = read(fds[0], msg + got, sizeof(msg) - 1 - (size_t)got)) > 0 ||
	        (n < 0 && errno == EINTR)))
		got += n > 0 ? n : 0;
	close(fds[0]);
	if (got == 1 && msg[0] == '\0')
		return 0;
	msg[got] = '\0';
	fprintf(stderr, "mount.tsn: %s\n", got > 0 ? msg : "the daemon died while starting");
	return 1;
}

int
main(int argc, char **argv)
{
	static struct run r;
	char err[512];
	sigset_t sigs;
	struct stat st;
	int rc;

	r.report_fd = -1;
	if (tsn_mount_opts_parse(argc, argv, &r.o, err, sizeof(err)) != 0) {
		fprintf(stderr, "mount.tsn: %s (see mount.tsn --help)\n", err);
		return 2;
	}
	if (r.o.help) {
		fputs(tsn_mount_usage(), stdout);
		return 0;
	}
	if (r.o.datadir[0] == '\0' &&
	    tsn_default_datadir(r.o.datadir, sizeof(r.o.datadir)) != 0) {
		fprintf(stderr, "mount.tsn: neither XDG_DATA_HOME nor HOME is set: "
		        "give -o datadir=DIR\n");
		return 2;
	}
	if (r.o.datadir[0] != '/' && absolute(r.o.datadir, sizeof(r.o.datadir)) != 0) {
		fprintf(stderr, "mount.tsn: data dir path too long\n");
		return 2;
	}
	if (realpath(r.o.mountpoint, r.mountpoint) == NULL || stat(r.mountpoint, &st) != 0) {
		fprintf(stderr, "mount.tsn: mount point %s: %s\n", r.o.mountpoint, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "mount.tsn: mount point %s is not a directory\n", r.o.mountpoint);
		return 1;
	}
	tsn_log_set_level(r.o.debug ? TSN_LOG_DEBUG : TSN_LOG_WARN);
	if (!r.o.foreground && (rc = background(&r)) >= 0)
		return rc;
	/* Blocked before any thread starts, so every thread inherits the mask
	 * and only the loop's thread takes them (libfuse's handlers). */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	return serve(&r, &sigs);
}
