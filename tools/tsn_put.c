/*
 * tsn_put.c: `tsn put`: encode files into the local store and print their URIs.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "control.h"
#include "tree.h"
#include "tsn_cli.h"
#include "util.h"

static const char put_help[] =
"usage: tsn put [--private] [--keywords \"WORDS\"] FILE...\n"
"\n"
"Split each FILE into 256 KiB chunks, compress, encrypt and store them in the\n"
"data dir, pinned; when a node runs on the data dir, it also pushes them to\n"
"the nodes closest to each chunk. Prints one URI per line on stdout, in the\n"
"order of the files, and nothing else there; a file that fails gets a line\n"
"on stderr and no URI, and the exit status is 1. FILE '-' reads standard\n"
"input.\n"
"\n"
"  --private   encrypt with this data dir's own convergence secret: nobody\n"
"              else sharing the same content gets the same URI (without it,\n"
"              the same content gives the same URI anywhere)\n"
"  --keywords W  extra search words besides those of the file's name (through\n"
"              a running node, which publishes the words of public files and\n"
"              republishes them while they are shared; `tsn rm` withdraws them)\n"
"\n"
"Running a put again is safe: the same content is stored once.\n";

#define READ_BUF (1024 * 1024)

struct put_ctx {
	struct tsn_store *store;
	const char *name;
	uint64_t total;       /* size if known, else 0 */
	int progress;         /* stderr is a terminal */
	struct timespec last; /* last progress line */
	atomic_int put_err;   /* first store error, for the message (any encoder thread) */
};

static int
put_block(void *ud, const struct tsn_chunk_ref *ref, int kind, const uint8_t *block, size_t len)
{
	struct put_ctx *p = ud;
	int rc = tsn_store_chunk_put(p->store, ref->id, block, len, TSN_CHUNK_PENDING);
	int none = 0;

	(void)kind;
	if (rc != 0)
		atomic_compare_exchange_strong(&p->put_err, &none, rc);
	return rc;
}

static void
show_progress(struct put_ctx *p, uint64_t done, int last)
{
	struct timespec now;
	char a[32], b[32];

	if (!p->progress)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!last && (now.tv_sec - p->last.tv_sec) * 1000 +
	    (now.tv_nsec - p->last.tv_nsec) / 1000000 < 200)
		return;
	p->last = now;
	tsn_fmt_size(done, a, sizeof(a));
	if (p->total > 0) {
		tsn_fmt_size(p->total, b, sizeof(b));
		fprintf(stderr, "\rput %s: %s of %s (%d%%)   ", p->name, a, b,
		        (int)(done * 100 / p->total));
	} else
		fprintf(stderr, "\rput %s: %s   ", p->name, a);
	if (last)
		fputc('\n', stderr);
}

static unsigned
cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 8 ? 8 : (unsigned)n;
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	if (s == NULL)
		return path;
	/* "dir/" -> the name before the slash is not needed: files only. */
	return s[1] != '\0' ? s + 1 : path;
}

const char *
cli_put_name(const char *path)
{
	return strcmp(path, "-") == 0 ? "stdin" : base_name(path);
}

/* Encode and commit one file. Returns 0 or -errno after printing why. */
static int
put_one(struct cli *c, const struct tsn_secret *conv, int private_, const char *path)
{
	/* put_block is thread-safe: the encoder's threads store the blocks. */
	struct tsn_encoder_opts eo = {.conv = conv, .threads = cpu_count(), .put_mt = 1};
	struct put_ctx p = {.store = c->store, .name = path};
	struct tsn_encoder *enc = NULL;
	struct tsn_file_info info;
	struct stat st;
	uint8_t *buf = NULL;
	int fd = -1, rc;
	ssize_t n;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = -errno;
		cli_err("put", "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		cli_err("put", "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		cli_err("put", "%s: is a directory (put takes files)", path);
		goto fail;
	}
	if (S_ISREG(st.st_mode))
		p.total = (uint64_t)st.st_size;
	p.progress = isatty(STDERR_FILENO);
	if ((buf = malloc(READ_BUF)) == NULL) {
		rc = -ENOMEM;
		cli_err("put", "%s: out of memory", path);
		goto fail;
	}
	if ((rc = tsn_encoder_new(&enc, &eo, put_block, &p)) != 0) {
		cli_err("put", "%s: cannot start the encoder: %s", path, strerror(-rc));
		goto fail;
	}
	if (S_ISREG(st.st_mode))
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		n = read(fd, buf, READ_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			cli_err("put", "%s: read error: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		if ((rc = tsn_encoder_write(enc, buf, (size_t)n)) != 0)
			goto encode_fail;
		show_progress(&p, tsn_encoder_size(enc), 0);
	}
	memset(&info, 0, sizeof(info));
	if ((rc = tsn_encoder_finish(enc, &info.uri)) != 0)
		goto encode_fail;
	show_progress(&p, tsn_encoder_size(enc), 1);
	info.private_ = private_;
	info.mtime = (uint64_t)time(NULL);
	snprintf(info.name, sizeof(info.name), "%s", cli_put_name(path));
	if ((rc = tsn_store_file_commit(c->store, &info)) != 0) {
		cli_err("put", "%s: cannot record the file: %s", path,
		        rc == -ENOSPC ? "no space left (store quota or disk full)" : strerror(-rc));
		goto fail;
	}
	{
		char uri[TSN_URI_STRLEN + 1];
		tsn_uri_format(&info.uri, uri);
		printf("%s\n", uri);
		fflush(stdout);
	}
	tsn_encoder_free(enc);
	free(buf);
	if (fd > STDIN_FILENO)
		close(fd);
	return 0;

encode_fail:
	if (p.put_err == -ENOSPC || rc == -ENOSPC)
		cli_err("put", "%s: no space left: the store's quota or the disk is full "
		        "(nothing was recorded; see `tsn stat`, `tsn gc`, --quota)", path);
	else if (rc == -EFBIG)
		cli_err("put", "%s: file too large for TSN", path);
	else
		cli_err("put", "%s: cannot store: %s", path, strerror(-rc));
fail:
	if (p.progress && enc != NULL)
		fputc('\n', stderr);
	tsn_encoder_free(enc);
	/* Puts run one after another here: what is pending now is this one's. */
	tsn_store_drop_pending(c->store, NULL);
	free(buf);
	if (fd > STDIN_FILENO)
		close(fd);
	return rc;
}

int
cmd_put(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"private", no_argument, NULL, 'p'},
		{"keywords", required_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tsn_secret priv;
	const struct tsn_secret *conv = &tsn_secret_public;
	const char *kw = NULL;
	int opt, private_ = 0, failed = 0, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p': private_ = 1; break;
		case 'k':
			if (strlen(optarg) > TSN_CTL_KEYWORDS_MAX) {
				cli_err("put", "--keywords: at most %d bytes", TSN_CTL_KEYWORDS_MAX);
				return 2;
			}
			kw = optarg;
			break;
		case 'h': fputs(put_help, stdout); return 0;
		default: fputs(put_help, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(put_help, stderr);
		return 2;
	}
	if (cli_attach(c, "put", 0) != 0)
		return 1;
	if (c->ctl >= 0)
		return remote_put(c, private_, kw, argv + optind, argc - optind);
	if (private_) {
		if ((rc = tsn_store_private_secret(c->store, &priv)) != 0) {
			cli_err("put", "cannot read or create the private secret in %s: %s",
			        c->datadir, strerror(-rc));
			return 1;
		}
		conv = &priv;
	}
	for (int i = optind; i < argc; i++)
		if (put_one(c, conv, private_, argv[i]) != 0)
			failed = 1;
	sodium_memzero(&priv, sizeof(priv));
	return failed;
}
