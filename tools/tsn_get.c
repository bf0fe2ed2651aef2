/*
 * tsn_get.c: `tsn get` and `tsn cat`: read a file by URI from the store
 * (offline; the online form is in tsn_remote.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tree.h"
#include "tsn_cli.h"
#include "util.h"

static const char get_help[] =
"usage: tsn get URI [-o OUT]\n"
"\n"
"Write the file URI names to OUT, or to stdout without -o. When a node runs\n"
"on the data dir, chunks not in the local store are fetched from the network.\n"
"Every chunk is checked (hash and authentication tag) before a byte is\n"
"written. With -o the file appears only when complete: on any error no OUT\n"
"is left behind.\n";

static const char cat_help[] =
"usage: tsn cat URI\n"
"\n"
"Write the file URI names to stdout (as `tsn get URI`).\n";

#define READ_BUF (1024 * 1024)

int
cli_write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Temp file next to out, so the final rename stays on one filesystem. */
int
cli_open_temp(const char *out, char *tmp, size_t len)
{
	int n = snprintf(tmp, len, "%s.tsn-XXXXXX", out), fd;
	mode_t mask;

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return -errno;
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) != 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return -e;
	}
	return fd;
}

int
cli_finish_temp(const char *cmd, int fd, const char *tmp, const char *out)
{
	int rc;

	if (fsync(fd) != 0) {
		rc = -errno;
		close(fd);
	} else if (close(fd) != 0) {
		rc = -errno;
	} else if (rename(tmp, out) != 0) {
		rc = -errno;
		cli_err(cmd, "cannot rename %s to %s: %s", tmp, out, strerror(-rc));
		return rc;
	} else {
		return 0;
	}
	cli_err(cmd, "cannot write %s: %s", out, strerror(-rc));
	return rc;
}

static int
fetch_to(struct cli *c, const char *cmd, const struct tsn_uri *uri, const char *out)
{
	char err[256], tmp[4200];
	struct tsn_reader *r = NULL;
	uint8_t *buf = NULL;
	uint64_t off = 0;
	int fd = STDOUT_FILENO, rc;

	tmp[0] = '\0';
	rc = tsn_reader_open_err(&r, uri, tsn_store_fetch, c->store, err, sizeof(err));
	if (rc != 0) {
		if (rc == -ENOENT)
			cli_err(cmd, "%s: the file is not in the local store of %s "
			        "(no node runs on this data dir to fetch it)", err, c->datadir);
		else
			cli_err(cmd, "%s%s", err, rc == -EIO ? " (run with -v for the details)" : "");
		goto fail;
	}
	if ((buf = malloc(READ_BUF)) == NULL) {
		rc = -ENOMEM;
		cli_err(cmd, "out of memory");
		goto fail;
	}
	if (out != NULL && (fd = cli_open_temp(out, tmp, sizeof(tmp))) < 0) {
		rc = fd;
		tmp[0] = '\0';
		cli_err(cmd, "cannot create %s: %s", out, strerror(-rc));
		goto fail;
	}
	while (off < tsn_reader_size(r)) {
		ssize_t n = tsn_reader_pread(r, buf, READ_BUF, off);
		if (n < 0) {
			rc = (int)n;
			cli_err(cmd, "%s%s", tsn_reader_error(r),
			        n == -EIO ? " (run with -v for the details)" : "");
			goto fail;
		}
		if (n == 0) {
			rc = -EIO;
			cli_err(cmd, "unexpected end of file at byte %llu", (unsigned long long)off);
			goto fail;
		}
		if ((rc = cli_write_all(fd, buf, (size_t)n)) != 0) {
			cli_err(cmd, "cannot write %s: %s", out ? out : "to stdout", strerror(-rc));
			goto fail;
		}
		off += (uint64_t)n;
	}
	if (out != NULL) {
		rc = cli_finish_temp(cmd, fd, tmp, out);
		fd = -1;
		if (rc != 0)
			goto fail;
	}
	free(buf);
	tsn_reader_free(r);
	return 0;

fail:
	if (out != NULL && fd >= 0)
		close(fd);
	if (tmp[0] != '\0')
		unlink(tmp);
	free(buf);
	tsn_reader_free(r);
	return rc;
}

int
cmd_get(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *out = NULL;
	struct tsn_uri uri;
	int opt;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'o': out = optarg; break;
		case 'h': fputs(get_help, stdout); return 0;
		default: fputs(get_help, stderr); return 2;
		}
	}
	if (optind + 1 != argc) {
		fputs(get_help, stderr);
		return 2;
	}
	if (cli_parse_uri("get", argv[optind], &uri) != 0)
		return 1;
	if (out != NULL && strcmp(out, "-") == 0)
		out = NULL;
	if (cli_attach(c, "get", 0) != 0)
		return 1;
	if (c->ctl >= 0)
		return remote_get(c, "get", &uri, out);
	return fetch_to(c, "get", &uri, out) == 0 ? 0 : 1;
}

int
cmd_cat(struct cli *c, int argc, char **argv)
{
	struct tsn_uri uri;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(cat_help, stdout);
		return 0;
	}
	if (argc != 2) {
		fputs(cat_help, stderr);
		return 2;
	}
	if (cli_parse_uri("cat", argv[1], &uri) != 0)
		return 1;
	if (cli_attach(c, "cat", 0) != 0)
		return 1;
	if (c->ctl >= 0)
		return remote_get(c, "cat", &uri, NULL);
	return fetch_to(c, "cat", &uri, NULL) == 0 ? 0 : 1;
}
