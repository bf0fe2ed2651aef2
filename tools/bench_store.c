/*
 * bench_store.c: where should 256 KiB chunk bodies live? Writes N MiB
 * (default 1024) of random 256 KiB blocks
 *   (a) as leveldb values (leveldb's default options, key = id), and
 *   (b) through the store (tsn_store_chunk_put: one body file each, index
 *       entry in leveldb),
 * then reads everything back cold (page cache dropped before each pass) in
 * key order and in a random order, and prints MB/s. Bytes written to the
 * disk come from /proc/self/io (write_bytes), so write amplification shows.
 *
 *   bench-store [-n MiB] [DIR]     DIR defaults to a new /tmp/tsn-bench-XXXXXX
 *
 * Cold reads need root (/proc/sys/vm/drop_caches); otherwise every file is
 * dropped with posix_fadvise(DONTNEED) after a sync, which is close.
 * A benchmark, not a test: it prints, it does not judge.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <leveldb/c.h>
#include <sodium.h>

#include "store.h"

#define BLOCK (256u * 1024u)

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes this process caused to be written to storage so far. */
static uint64_t
io_written(void)
{
	char line[128];
	uint64_t v = 0;
	FILE *f = fopen("/proc/self/io", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "write_bytes: %" SCNu64, &v) == 1)
			break;
	fclose(f);
	return v;
}

static int
fadvise_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	int fd;

	(void)st, (void)ftw;
	if (flag != FTW_F || (fd = open(path, O_RDONLY)) < 0)
		return 0;
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	return 0;
}

static const char *
drop_caches(const char *dir)
{
	int fd;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd >= 0 && write(fd, "3\n", 2) == 2) {
		close(fd);
		return "drop_caches";
	}
	if (fd >= 0)
		close(fd);
	nftw(dir, fadvise_one, 32, FTW_PHYS);
	return "fadvise";
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void
report(const char *what, uint64_t bytes, double secs)
{
	printf("  %-34s %8.1f MB/s  (%.2f s)\n", what, (double)bytes / 1e6 / secs, secs);
}

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "bench-store: %s: %s\n", what, why);
	exit(1);
}

static leveldb_t *
ldb_open(const char *path, leveldb_options_t **o)
{
	char *err = NULL;
	leveldb_t *db;

	*o = leveldb_options_create();
	leveldb_options_set_create_if_missing(*o, 1);
	db = leveldb_open(*o, path, &err);
	if (err != NULL)
		die("leveldb open", err);
	return db;
}

static void
bench_leveldb(const char *dir, uint8_t *data, uint8_t (*id)[TSN_ID_LEN], size_t n,
              const size_t *order)
{
	char path[512], *err = NULL, *v;
	leveldb_options_t *o;
	leveldb_writeoptions_t *wo = leveldb_writeoptions_create();
	leveldb_readoptions_t *ro = leveldb_readoptions_create();
	leveldb_iterator_t *it;
	uint64_t total = (uint64_t)n * BLOCK, w0, got = 0;
	size_t vlen;
	leveldb_t *db;
	double t0, t1;
	const char *how;

	snprintf(path, sizeof(path), "%s/leveldb", dir);
	printf("(a) leveldb values, default options (4 MiB write buffer, 8 MiB block cache, "
	       "snappy as built), no sync per put:\n");
	db = ldb_open(path, &o);
	w0 = io_written();
	t0 = now();
	for (size_t i = 0; i < n; i++) {
		leveldb_put(db, wo, (const char *)id[i], TSN_ID_LEN, (const char *)data + i * BLOCK,
		            BLOCK, &err);
		if (err != NULL)
			die("leveldb put", err);
	}
	t1 = now();
	report("write (returns)", total, t1 - t0);
	leveldb_close(db); /* waits for background compactions */
	leveldb_options_destroy(o);
	sync();
	report("write + close + sync", total, now() - t0);
	printf("  disk bytes written / data: %.2f\n", (double)(io_written() - w0) / (double)total);

	how = drop_caches(dir);
	db = ldb_open(path, &o);
	t0 = now();
	it = leveldb_create_iterator(db, ro);
	for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it)) {
		leveldb_iter_value(it, &vlen);
		got += vlen;
	}
	leveldb_iter_destroy(it);
	if (got != total)
		die("leveldb scan", "wrong byte count");
	report("cold read, key order (iterator)", got, now() - t0);
	leveldb_close(db);
	leveldb_options_destroy(o);

	drop_caches(dir);
	db = ldb_open(path, &o);
	t0 = now();
	for (size_t i = 0; i < n; i++) {
		size_t k = order[i];

		v = leveldb_get(db, ro, (const char *)id[k], TSN_ID_LEN, &vlen, &err);
		if (err != NULL)
			die("leveldb get", err);
		if (v == NULL || vlen != BLOCK || memcmp(v, data + k * BLOCK, BLOCK) != 0)
			die("leveldb get", "wrong value");
		leveldb_free(v);
	}
	report("cold read, random order (get)", total, now() - t0);
	printf("  (cache dropped with %s)\n", how);
	leveldb_close(db);
	leveldb_options_destroy(o);
	leveldb_writeoptions_destroy(wo);
	leveldb_readoptions_destroy(ro);
}

static struct tsn_store *
store_open(const char *path)
{
	struct tsn_store_opts so = {.quota = UINT64_C(64) << 30};
	struct tsn_store *s;
	char err[256];

	if (tsn_store_open(&s, path, &so, err, sizeof(err)) != 0)
		die("store open", err);
	return s;
}

static int
cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, TSN_ID_LEN);
}

static void
bench_store(const char *dir, uint8_t *data, uint8_t (*id)[TSN_ID_LEN], size_t n,
            const size_t *order)
{
	char path[512];
	uint8_t *buf = malloc(BLOCK), (*sorted)[TSN_ID_LEN] = malloc(n * TSN_ID_LEN);
	uint64_t total = (uint64_t)n * BLOCK, w0;
	struct tsn_store *s;
	double t0, t1;
	long r;
	int fd;

	if (buf == NULL || sorted == NULL)
		die("malloc", strerror(ENOMEM));
	snprintf(path, sizeof(path), "%s/store", dir);
	printf("(b) store: one body file per chunk (temp + rename, no fsync), index in leveldb:\n");
	s = store_open(path);
	w0 = io_written();
	t0 = now();
	for (size_t i = 0; i < n; i++) {
		r = tsn_store_chunk_put(s, id[i], data + i * BLOCK, BLOCK, TSN_CHUNK_PENDING);
		if (r != 0)
			die("chunk put", strerror((int)-r));
	}
	t1 = now();
	report("write (returns)", total, t1 - t0);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY)) >= 0) {
		syncfs(fd); /* what file_commit does */
		close(fd);
	}
	tsn_store_close(s);
	report("write + syncfs + close", total, now() - t0);
	printf("  disk bytes written / data: %.2f\n", (double)(io_written() - w0) / (double)total);

	memcpy(sorted, id, n * TSN_ID_LEN);
	qsort(sorted, n, TSN_ID_LEN, cmp_id);
	drop_caches(dir);
	s = store_open(path);
	t0 = now();
	for (size_t i = 0; i < n; i++)
		if ((r = tsn_store_chunk_get(s, sorted[i], buf, BLOCK)) != BLOCK)
			die("chunk get", strerror((int)-r));
	report("cold read, id order", total, now() - t0);
	tsn_store_close(s);

	drop_caches(dir);
	s = store_open(path);
	t0 = now();
	for (size_t i = 0; i < n; i++) {
		size_t k = order[i];

		if ((r = tsn_store_chunk_get(s, id[k], buf, BLOCK)) != BLOCK)
			die("chunk get", strerror((int)-r));
		if (memcmp(buf, data + k * BLOCK, BLOCK) != 0)
			die("chunk get", "wrong body");
	}
	report("cold read, random order", total, now() - t0);
	tsn_store_close(s);
	free(sorted);
	free(buf);
}

int
main(int argc, char **argv)
{
	char tmpl[] = "/tmp/tsn-bench-XXXXXX";
	const char *dir = NULL;
	uint8_t *data, (*id)[TSN_ID_LEN];
	size_t mib = 1024, n, *order;
	int opt, made = 0;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n') {
			fprintf(stderr, "usage: bench-store [-n MiB] [DIR]\n");
			return 2;
		}
		mib = strtoul(optarg, NULL, 10);
	}
	if (optind < argc)
		dir = argv[optind];
	if (sodium_init() < 0 || mib == 0)
		die("init", "bad size or libsodium");
	if (dir == NULL) {
		if ((dir = mkdtemp(tmpl)) == NULL)
			die("mkdtemp", strerror(errno));
		made = 1;
	}
	n = mib * (1024 * 1024 / BLOCK);
	data = malloc(n * BLOCK);
	id = malloc(n * TSN_ID_LEN);
	order = malloc(n * sizeof(*order));
	if (data == NULL || id == NULL || order == NULL)
		die("malloc", strerror(ENOMEM));
	/* Content and ids made up front: only storage is timed (the store trusts ids). */
	randombytes_buf(data, n * BLOCK);
	for (size_t i = 0; i < n; i++) {
		tsn_block_id(data + i * BLOCK, BLOCK, id[i]);
		order[i] = i;
	}
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = randombytes_uniform((uint32_t)(i + 1)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	printf("%zu MiB in %zu blocks of %u KiB, in %s\n", mib, n, BLOCK / 1024, dir);
	bench_leveldb(dir, data, id, n, order);
	bench_store(dir, data, id, n, order);
	if (made)
		nftw(dir, rm_one, 32, FTW_DEPTH | FTW_PHYS);
	free(order);
	free(id);
	free(data);
	return 0;
}
