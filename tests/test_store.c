/*
 * test_store.c: the local store: chunk round trip, the data dir lock, pins
 * shared between files and repeated in one file, LRU eviction and the quota,
 * stats by role, gc of stale pending chunks and orphans, reopen, the
 * private secret, corrupt bodies, cached bodies written around the page
 * cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "check.h"
#include "store.h"
#include "tree.h"
#include "util.h"

#define BLK 4096

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void
rmrf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct tsn_store *
open_store(const char *dir, uint64_t quota)
{
	struct tsn_store_opts o = {.quota = quota};
	struct tsn_store *s = NULL;
	char err[256];
	int rc = tsn_store_open(&s, dir, &o, err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "open %s: %s\n", dir, err);
	CHECK_INT(rc, ==, 0);
	CHECK(s != NULL);
	return s;
}

/* A random "block" of len bytes and its id (the store trusts the caller). */
static void
rand_block(uint8_t *b, size_t len, uint8_t id[TSN_ID_LEN])
{
	randombytes_buf(b, len);
	tsn_block_id(b, len, id);
}

static int
put_cb(void *ud, const struct tsn_chunk_ref *ref, int kind, const uint8_t *block, size_t len)
{
	(void)kind;
	return tsn_store_chunk_put(ud, ref->id, block, len, TSN_CHUNK_PENDING);
}

/* Encode data as a file of chunk size cs into the store (pending). */
static int
encode(struct tsn_store *s, const uint8_t *data, size_t len, uint32_t cs, struct tsn_uri *uri)
{
	struct tsn_encoder_opts o = {.chunk_size = cs};
	struct tsn_encoder *e;
	int rc;

	CHECK_INT(tsn_encoder_new(&e, &o, put_cb, s), ==, 0);
	rc = tsn_encoder_write(e, data, len);
	if (rc == 0)
		rc = tsn_encoder_finish(e, uri);
	tsn_encoder_free(e);
	return rc;
}

static void
put_file(struct tsn_store *s, const uint8_t *data, size_t len, uint32_t cs, const char *name,
         struct tsn_uri *uri)
{
	struct tsn_file_info fi;

	CHECK_INT(encode(s, data, len, cs, uri), ==, 0);
	memset(&fi, 0, sizeof(fi));
	fi.uri = *uri;
	fi.mtime = 1700000000;
	snprintf(fi.name, sizeof(fi.name), "%s", name);
	CHECK_INT(tsn_store_file_commit(s, &fi), ==, 0);
}

/* 0 if the file reads back as data, else the error. */
static int
read_file(struct tsn_store *s, const struct tsn_uri *uri, const uint8_t *data, size_t len)
{
	struct tsn_reader *r;
	uint8_t *buf = malloc(len + 1);
	ssize_t n;
	size_t off = 0;
	int rc;

	CHECK(buf != NULL);
	if ((rc = tsn_reader_open(&r, uri, tsn_store_fetch, s)) != 0)
		goto out;
	while (off < len) {
		n = tsn_reader_pread(r, buf + off, len + 1 - off, off);
		if (n <= 0) {
			rc = n < 0 ? (int)n : -EIO;
			break;
		}
		off += (size_t)n;
	}
	if (rc == 0 && (off != len || memcmp(buf, data, len) != 0))
		rc = -EBADMSG;
	tsn_reader_free(r);
out:
	free(buf);
	return rc;
}

static uint64_t
pinned(struct tsn_store *s)
{
	struct tsn_store_stat st;

	tsn_store_stat(s, &st);
	return st.chunks[TSN_STAT_PINNED];
}

static void
test_roundtrip(const char *dir)
{
	struct tsn_store *s = open_store(dir, 0);
	uint8_t b[BLK], out[BLK], id[TSN_ID_LEN], none[TSN_ID_LEN] = {0};

	CHECK_STR(tsn_store_path(s), dir);
	rand_block(b, sizeof(b), id);
	CHECK_INT(tsn_store_chunk_has(s, id), ==, 0);
	CHECK_INT(tsn_store_chunk_put(s, id, b, sizeof(b), TSN_CHUNK_CACHED), ==, 0);
	CHECK_INT(tsn_store_chunk_put(s, id, b, sizeof(b), TSN_CHUNK_CACHED), ==, 0);
	CHECK_INT(tsn_store_chunk_has(s, id), ==, 1);
	CHECK_INT(tsn_store_chunk_get(s, id, out, sizeof(out)), ==, BLK);
	CHECK_MEM(out, b, BLK);
	CHECK_INT(tsn_store_fetch(s, id, out, sizeof(out)), ==, BLK);
	CHECK_INT(tsn_store_chunk_get(s, id, out, BLK - 1), ==, -EMSGSIZE);
	CHECK_INT(tsn_store_chunk_get(s, none, out, sizeof(out)), ==, -ENOENT);
	CHECK_INT(tsn_store_chunk_put(s, id, b, 0, TSN_CHUNK_CACHED), ==, -EINVAL);
	CHECK_INT(tsn_store_chunk_put(s, id, b, TSN_BLOCK_MAX + 1, TSN_CHUNK_CACHED), ==, -EINVAL);
	CHECK_INT(tsn_store_chunk_put(s, id, b, sizeof(b), (enum tsn_chunk_role)7), ==, -EINVAL);
	CHECK_INT(tsn_store_chunk_drop(s, id), ==, 0);
	CHECK_INT(tsn_store_chunk_has(s, id), ==, 0);
	CHECK_INT(tsn_store_chunk_drop(s, id), ==, -ENOENT);
	CHECK_INT(tsn_store_chunk_get(s, id, out, sizeof(out)), ==, -ENOENT);
	tsn_store_close(s);
	tsn_store_close(NULL);
}

static void
test_lock(const char *dir)
{
	struct tsn_store *s = open_store(dir, 0), *s2 = (struct tsn_store *)1;
	char err[256], want[64];

	CHECK_INT(tsn_store_open(&s2, dir, NULL, err, sizeof(err)), ==, -EBUSY);
	CHECK(s2 == NULL);
	CHECK(strstr(err, "in use") != NULL);
	snprintf(want, sizeof(want), "(pid %ld)", (long)getpid());
	CHECK(strstr(err, want) != NULL);
	tsn_store_close(s);
	s = open_store(dir, 0);
	tsn_store_close(s);
}

/* B = A + one more chunk: they share every data chunk of A. */
static void
test_refcounts(const char *dir)
{
	struct tsn_store *s = open_store(dir, 0);
	struct tsn_store_stat st;
	struct tsn_file_info fi;
	struct tsn_uri ua, ub;
	size_t na = 200 * 1024, nb = na + 1024;
	uint8_t *b = malloc(nb);
	uint64_t bytes;

	CHECK(b != NULL);
	randombytes_buf(b, nb);
	put_file(s, b, na, 1024, "a", &ua);
	put_file(s, b, nb, 1024, "b", &ub);
	tsn_store_stat(s, &st);
	CHECK_U64(st.files, ==, 2);
	CHECK_U64(st.chunks[TSN_STAT_PENDING], ==, 0);
	CHECK_U64(st.chunks[TSN_STAT_CACHED], ==, 0);
	CHECK_U64(st.chunks[TSN_STAT_PINNED], >, 200);

	/* Committing again only renames; one remove then unpins everything. */
	memset(&fi, 0, sizeof(fi));
	fi.uri = ua;
	snprintf(fi.name, sizeof(fi.name), "a2");
	fi.mtime = 42;
	CHECK_INT(tsn_store_file_commit(s, &fi), ==, 0);
	CHECK_INT(tsn_store_file_get(s, &ua, &fi), ==, 0);
	CHECK_STR(fi.name, "a2");
	CHECK_U64(fi.mtime, ==, 42);
	CHECK_U64(fi.uri.size, ==, na);
	tsn_store_stat(s, &st);
	CHECK_U64(st.files, ==, 2);

	CHECK_INT(tsn_store_file_remove(s, &ua), ==, 0);
	CHECK_INT(tsn_store_file_remove(s, &ua), ==, -ENOENT);
	CHECK_INT(tsn_store_file_get(s, &ua, &fi), ==, -ENOENT);
	CHECK_INT(tsn_store_gc(s, NULL), >, 0); /* A's own index nodes */
	CHECK_INT(read_file(s, &ub, b, nb), ==, 0);
	CHECK_INT(read_file(s, &ua, b, na), !=, 0);
	tsn_store_stat(s, &st);
	CHECK_U64(st.files, ==, 1);
	CHECK_U64(st.chunks[TSN_STAT_CACHED], ==, 0);

	CHECK_INT(tsn_store_file_remove(s, &ub), ==, 0);
	tsn_store_stat(s, &st);
	CHECK_U64(st.files, ==, 0);
	CHECK_U64(st.chunks[TSN_STAT_PINNED], ==, 0);
	CHECK_U64(st.chunks[TSN_STAT_CACHED], >, 200);
	CHECK_INT(read_file(s, &ub, b, nb), ==, 0); /* cached still reads */
	CHECK_INT(tsn_store_gc(s, &bytes), ==, (long)st.chunks[TSN_STAT_CACHED]);
	CHECK_U64(bytes, ==, st.bytes[TSN_STAT_CACHED]);
	tsn_store_stat(s, &st);
	for (int r = 0; r < 4; r++)
		CHECK_U64(st.chunks[r], ==, 0);
	CHECK_INT(read_file(s, &ub, b, nb), ==, -ENOENT);
	tsn_store_close(s);
	free(b);
}

/* A chunk that occurs 100 times in one file and once in another. */
static void
test_repeats(const char *dir)
{
	struct tsn_store *s = open_store(dir, 0);
	struct tsn_uri urep, uone;
	size_t n = 100 * 1024;
	uint8_t *rep = malloc(n), one[1024];

	CHECK(rep != NULL);
	randombytes_buf(one, sizeof(one));
	for (size_t i = 0; i < n; i += sizeof(one))
		memcpy(rep + i, one, sizeof(one));
	/*
	 * 100 equal data chunks under 8 leaves of 14 refs (fanout for 1024),
	 * 7 of them equal: 4 distinct blocks, occurring 100, 7, 1 and 1 times.
	 */
	put_file(s, rep, n, 1024, "rep", &urep);
	CHECK_U64(pinned(s), ==, 4);
	put_file(s, rep, n, 1024, "rep", &urep);
	CHECK_U64(pinned(s), ==, 4);
	put_file(s, one, sizeof(one), 1024, "one", &uone);
	CHECK_U64(pinned(s), ==, 5);
	CHECK_INT(tsn_store_file_remove(s, &urep), ==, 0);
	CHECK_U64(pinned(s), ==, 2); /* the data chunk stays pinned by "one" */
	CHECK_INT(tsn_store_gc(s, NULL), ==, 3);
	CHECK_INT(read_file(s, &uone, one, sizeof(one)), ==, 0);
	CHECK_INT(tsn_store_file_remove(s, &uone), ==, 0);
	CHECK_U64(pinned(s), ==, 0);
	CHECK_INT(tsn_store_gc(s, NULL), ==, 2);
	tsn_store_close(s);
	free(rep);
}

/* Cached chunks go least recently used first; pinned and held ones never. */
static void
test_eviction(const char *dir)
{
	struct tsn_store *s;
	struct tsn_store_stat st;
	struct tsn_uri uf;
	uint8_t c[12][BLK], id[12][TSN_ID_LEN], f[3000], out[BLK];
	uint64_t fixed;

	randombytes_buf(f, sizeof(f));
	s = open_store(dir, 0);
	put_file(s, f, sizeof(f), 1024, "f", &uf);
	tsn_store_stat(s, &st);
	fixed = st.bytes[TSN_STAT_PINNED];
	tsn_store_close(s);

	s = open_store(dir, fixed + 8 * BLK);
	for (int i = 0; i < 12; i++)
		rand_block(c[i], BLK, id[i]);
	for (int i = 0; i < 8; i++)
		CHECK_INT(tsn_store_chunk_put(s, id[i], c[i], BLK, TSN_CHUNK_CACHED), ==, 0);
	CHECK_INT(tsn_store_chunk_get(s, id[0], out, sizeof(out)), ==, BLK);
	CHECK_INT(tsn_store_chunk_get(s, id[1], out, sizeof(out)), ==, BLK);
	CHECK_INT(tsn_store_chunk_put(s, id[8], c[8], BLK, TSN_CHUNK_CACHED), ==, 0);
	CHECK_INT(tsn_store_chunk_put(s, id[9], c[9], BLK, TSN_CHUNK_PENDING), ==, 0);
	CHECK_INT(tsn_store_chunk_has(s, id[2]), ==, 0);
	CHECK_INT(tsn_store_chunk_has(s, id[3]), ==, 0);
	for (int i = 0; i < 10; i++)
		if (i != 2 && i != 3)
			CHECK_INT(tsn_store_chunk_has(s, id[i]), ==, 1);
	/* A held chunk takes room too, and is never evicted. */
	CHECK_INT(tsn_store_chunk_put(s, id[10], c[10], BLK, TSN_CHUNK_HELD), ==, 0);
	CHECK_INT(tsn_store_chunk_has(s, id[4]), ==, 0);
	tsn_store_stat(s, &st);
	CHECK_U64(st.evicted, ==, 3);
	CHECK_U64(st.chunks[TSN_STAT_CACHED], ==, 6); /* 0 1 5 6 7 8 */
	CHECK_INT(read_file(s, &uf, f, sizeof(f)), ==, 0);

	/* The LRU order survives a reopen: 5 is now the oldest untouched. */
	tsn_store_close(s);
	s = open_store(dir, fixed + 8 * BLK);
	CHECK_INT(tsn_store_chunk_put(s, id[11], c[11], BLK, TSN_CHUNK_CACHED), ==, 0);
	CHECK_INT(tsn_store_chunk_has(s, id[5]), ==, 0);
	CHECK_INT(tsn_store_chunk_has(s, id[0]), ==, 1);

	/* Over the quota even with every cached chunk gone: -ENOSPC, nothing evicted. */
	tsn_store_stat(s, &st);
	{
		size_t big = (size_t)(st.bytes[TSN_STAT_CACHED] + 2 * BLK);
		uint8_t *bb = malloc(big), bid[TSN_ID_LEN];
		uint64_t ev = st.evicted;

		CHECK(bb != NULL);
		rand_block(bb, big, bid);
		CHECK_INT(tsn_store_chunk_put(s, bid, bb, big, TSN_CHUNK_CACHED), ==, -ENOSPC);
		CHECK_INT(tsn_store_chunk_has(s, bid), ==, 0);
		tsn_store_stat(s, &st);
		CHECK_U64(st.evicted, ==, ev);
		free(bb);
	}
	tsn_store_close(s);

	/* Pinned data beyond the quota: the put fails with -ENOSPC. */
	s = open_store(dir, fixed + 16 * BLK);
	{
		static uint8_t big[64 * BLK];
		struct tsn_uri u;

		randombytes_buf(big, sizeof(big));
		CHECK_INT(encode(s, big, sizeof(big), BLK, &u), ==, -ENOSPC);
		tsn_store_stat(s, &st);
		CHECK_U64(st.evicted, >=, 5); /* cached chunks went first */
		CHECK_INT(read_file(s, &uf, f, sizeof(f)), ==, 0);
		CHECK_U64(st.bytes[0] + st.bytes[1] + st.bytes[2] + st.bytes[3], <=, st.quota);
	}
	tsn_store_close(s);
}

static void
test_stats(const char *dir)
{
	struct tsn_store *s = open_store(dir, 0);
	struct tsn_store_stat st;
	struct tsn_uri uf;
	uint8_t c[3][BLK], id[3][TSN_ID_LEN], f[2048];

	for (int i = 0; i < 3; i++)
		rand_block(c[i], BLK - (size_t)i, id[i]);
	randombytes_buf(f, sizeof(f));
	put_file(s, f, sizeof(f), 1024, "f", &uf);
	CHECK_INT(tsn_store_chunk_put(s, id[0], c[0], BLK, TSN_CHUNK_PENDING), ==, 0);
	CHECK_INT(tsn_store_chunk_put(s, id[1], c[1], BLK - 1, TSN_CHUNK_CACHED), ==, 0);
	CHECK_INT(tsn_store_chunk_put(s, id[2], c[2], BLK - 2, TSN_CHUNK_HELD), ==, 0);
	tsn_store_stat(s, &st);
	CHECK_U64(st.quota, ==, TSN_STORE_QUOTA_DEFAULT);
	CHECK_U64(st.files, ==, 1);
	CHECK_U64(st.chunks[TSN_STAT_PINNED], ==, 3);
	CHECK_U64(st.chunks[TSN_STAT_PENDING], ==, 1);
	CHECK_U64(st.bytes[TSN_STAT_PENDING], ==, BLK);
	CHECK_U64(st.chunks[TSN_STAT_CACHED], ==, 1);
	CHECK_U64(st.bytes[TSN_STAT_CACHED], ==, BLK - 1);
	CHECK_U64(st.chunks[TSN_STAT_HELD], ==, 1);
	CHECK_U64(st.bytes[TSN_STAT_HELD], ==, BLK - 2);

	/* Roles only go up: cached -> pending -> held; a cached put changes nothing. */
	CHECK_INT(tsn_store_chunk_put(s, id[1], c[1], BLK - 1, TSN_CHUNK_PENDING), ==, 0);
	CHECK_INT(tsn_store_chunk_put(s, id[0], c[0], BLK, TSN_CHUNK_HELD), ==, 0);
	CHECK_INT(tsn_store_chunk_put(s, id[2], c[2], BLK - 2, TSN_CHUNK_CACHED), ==, 0);
	tsn_store_stat(s, &st);
	CHECK_U64(st.chunks[TSN_STAT_CACHED], ==, 0);
	CHECK_U64(st.chunks[TSN_STAT_PENDING], ==, 1);
	CHECK_U64(st.bytes[TSN_STAT_PENDING], ==, BLK - 1);
	CHECK_U64(st.chunks[TSN_STAT_HELD], ==, 2);
	CHECK_U64(st.bytes[TSN_STAT_HELD], ==, 2 * BLK - 2);
	/* gc keeps this session's pending chunk and the held ones. */
	CHECK_INT(tsn_store_gc(s, NULL), ==, 0);
	tsn_store_close(s);

	/* The same numbers are counted again at open. */
	s = open_store(dir, 0);
	tsn_store_stat(s, &st);
	CHECK_U64(st.files, ==, 1);
	CHECK_U64(st.chunks[TSN_STAT_PINNED], ==, 3);
	CHECK_U64(st.chunks[TSN_STAT_PENDING], ==, 1);
	CHECK_U64(st.chunks[TSN_STAT_HELD], ==, 2);
	CHECK_U64(st.bytes[TSN_STAT_HELD], ==, 2 * BLK - 2);
	tsn_store_close(s);
}

static int
find_atime(void *ud, const struct tsn_store_chunk_info *ci)
{
	struct { const uint8_t *id; uint64_t atime; int held; } *w = ud;

	if (memcmp(ci->id, w->id, TSN_ID_LEN) == 0) {
		w->atime = ci->atime_ms;
		w->held = ci->held;
		return 1;
	}
	return 0;
}

static uint64_t
held_since(struct tsn_store *s, const uint8_t id[TSN_ID_LEN])
{
	struct { const uint8_t *id; uint64_t atime; int held; } w = {id, 0, 0};

	CHECK_INT(tsn_store_chunk_list(s, 1u << TSN_STAT_HELD, find_atime, &w), ==, 1);
	CHECK(w.held);
	return w.atime;
}

/* A held chunk's lifetime: a copy keeps the age it was given (repair must
 * not renew what nobody republishes), a later start wins over an earlier
 * one, and a plain put as held (an owner's push) starts it now. */
static void
test_lifetime(const char *dir)
{
	struct tsn_store *s = open_store(dir, 0);
	uint8_t c[2][BLK], id[2][TSN_ID_LEN];
	struct timespec ts;
	uint64_t now, t;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	for (int i = 0; i < 2; i++)
		rand_block(c[i], BLK, id[i]);
	CHECK_INT(tsn_store_chunk_hold(s, id[0], c[0], BLK, now - 50000), ==, 0);
	CHECK_U64(held_since(s, id[0]), ==, now - 50000);
	CHECK_INT(tsn_store_chunk_hold(s, id[0], c[0], BLK, now - 90000), ==, 0);
	CHECK_U64(held_since(s, id[0]), ==, now - 50000);   /* never shortened */
	CHECK_INT(tsn_store_chunk_hold(s, id[0], c[0], BLK, now - 20000), ==, 0);
	CHECK_U64(held_since(s, id[0]), ==, now - 20000);   /* a later start wins */
	CHECK_INT(tsn_store_chunk_put(s, id[0], c[0], BLK, TSN_CHUNK_HELD), ==, 0);
	CHECK(held_since(s, id[0]) >= now);                  /* an owner's put: now */
	/* a cached chunk made held takes the copy's start; a future start is now */
	CHECK_INT(tsn_store_chunk_put(s, id[1], c[1], BLK, TSN_CHUNK_CACHED), ==, 0);
	CHECK_INT(tsn_store_chunk_hold(s, id[1], c[1], BLK, now - 70000), ==, 0);
	CHECK_U64(held_since(s, id[1]), ==, now - 70000);
	CHECK_INT(tsn_store_chunk_unhold(s, id[1]), ==, 0); /* stays, as cached */
	CHECK_INT(tsn_store_chunk_hold(s, id[1], c[1], BLK, now + 3600000), ==, 0);
	t = held_since(s, id[1]);
	CHECK(t >= now && t < now + 3600000);
	tsn_store_close(s);
}

/* Can dir's file system write with O_DIRECT? */
static int
direct_io_works(const char *dir)
{
	char path[256];
	void *p = aligned_alloc(TSN_STORE_DIO_ALIGN, TSN_STORE_DIO_ALIGN);
	int fd, ok;

	CHECK(p != NULL);
	memset(p, 1, TSN_STORE_DIO_ALIGN);
	snprintf(path, sizeof(path), "%s/direct-probe", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0600);
	ok = fd >= 0 && write(fd, p, TSN_STORE_DIO_ALIGN) == TSN_STORE_DIO_ALIGN;
	if (fd >= 0)
		close(fd);
	unlink(path);
	free(p);
	return ok;
}

/* Is the first page of chunk id's body in the page cache? */
static int
first_page_cached(const char *dir, const uint8_t id[TSN_ID_LEN])
{
	char hex[2 * TSN_ID_LEN + 1], path[256];
	unsigned char vec = 0;
	void *m;
	int fd;

	tsn_hex(id, TSN_ID_LEN, hex);
	snprintf(path, sizeof(path), "%s/chunks/%.2s/%s", dir, hex, hex);
	CHECK((fd = open(path, O_RDONLY)) >= 0);
	m = mmap(NULL, TSN_STORE_DIO_ALIGN, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED);
	CHECK_INT(mincore(m, TSN_STORE_DIO_ALIGN, &vec), ==, 0);
	munmap(m, TSN_STORE_DIO_ALIGN);
	close(fd);
	return vec & 1;
}

/* Cached bodies from aligned buffers skip the page cache (when the file
 * system lets them) and read back whole: the page-aligned head and the
 * tail written apart, short and unaligned ones the usual way. */
static void
test_cached_direct(const char *dir)
{
	static const size_t lens[] = {3 * TSN_STORE_DIO_ALIGN + 123, TSN_BLOCK_MAX,
	                              2 * TSN_STORE_DIO_ALIGN, 100};
	struct tsn_store *s = open_store(dir, 0);
	/* aligned_alloc wants a multiple of the alignment */
	size_t cap = (TSN_BLOCK_MAX / TSN_STORE_DIO_ALIGN + 2) * TSN_STORE_DIO_ALIGN;
	uint8_t *a = aligned_alloc(TSN_STORE_DIO_ALIGN, cap);
	uint8_t *out = malloc(TSN_BLOCK_MAX), id[TSN_ID_LEN];
	int direct = direct_io_works(dir);

	CHECK(a != NULL && out != NULL);
	if (!direct)
		fprintf(stderr, "no direct I/O under %s: page cache not checked\n", dir);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (int shift = 0; shift <= 1; shift++) {
			uint8_t *b = a + shift; /* shift 1: not aligned, written as usual */

			rand_block(b, lens[i], id);
			CHECK_INT(tsn_store_chunk_put(s, id, b, lens[i], TSN_CHUNK_CACHED), ==, 0);
			if (direct && shift == 0 && lens[i] >= TSN_STORE_DIO_ALIGN)
				CHECK_INT(first_page_cached(dir, id), ==, 0);
			CHECK_INT(tsn_store_chunk_get(s, id, out, TSN_BLOCK_MAX), ==, (long)lens[i]);
			CHECK_MEM(out, b, lens[i]);
		}
	}
	tsn_store_close(s);
	s = open_store(dir, 0);
	CHECK_INT(tsn_store_chunk_get(s, id, out, TSN_BLOCK_MAX), ==, (long)lens[3]);
	tsn_store_close(s);
	free(a);
	free(out);
}

/* A store of the first layout (chunks/ab/cd/<id>) opens with every body
 * moved to chunks/ab/<id>, readable, the old folders gone; again after a
 * crash half-way (some bodies moved, no marker yet). */
static void
test_layout(const char *dir)
{
	struct tsn_store *s = open_store(dir, 0);
	uint8_t c[4][BLK], out[BLK], id[4][TSN_ID_LEN];
	char from[512], to[512], hex[2 * TSN_ID_LEN + 1];

	for (int i = 0; i < 4; i++) {
		rand_block(c[i], BLK, id[i]);
		CHECK_INT(tsn_store_chunk_put(s, id[i], c[i], BLK, TSN_CHUNK_HELD), ==, 0);
	}
	tsn_store_close(s);
	/* back to the old layout, but for chunk 3: as if a migration stopped */
	for (int i = 0; i < 3; i++) {
		tsn_hex(id[i], TSN_ID_LEN, hex);
		snprintf(to, sizeof(to), "%s/chunks/%.2s/%.2s", dir, hex, hex + 2);
		CHECK(mkdir(to, 0700) == 0 || errno == EEXIST);
		snprintf(to, sizeof(to), "%s/chunks/%.2s/%.2s/%s", dir, hex, hex + 2, hex);
		snprintf(from, sizeof(from), "%s/chunks/%.2s/%s", dir, hex, hex);
		CHECK_INT(rename(from, to), ==, 0);
	}
	snprintf(to, sizeof(to), "%s/chunks/.flat", dir);
	CHECK_INT(unlink(to), ==, 0);

	s = open_store(dir, 0);
	for (int i = 0; i < 4; i++) {
		CHECK_INT(tsn_store_chunk_get(s, id[i], out, sizeof(out)), ==, BLK);
		CHECK_MEM(out, c[i], BLK);
		tsn_hex(id[i], TSN_ID_LEN, hex);
		snprintf(to, sizeof(to), "%s/chunks/%.2s/%s", dir, hex, hex);
		CHECK(access(to, F_OK) == 0);
		snprintf(to, sizeof(to), "%s/chunks/%.2s/%.2s", dir, hex, hex + 2);
		CHECK(access(to, F_OK) != 0);
	}
	CHECK_INT(tsn_store_gc(s, NULL), ==, 0); /* nothing looks orphaned */
	tsn_store_close(s);
	snprintf(to, sizeof(to), "%s/chunks/.flat", dir);
	CHECK(access(to, F_OK) == 0);
}

static int
count_file(void *ud, const struct tsn_file_info *f)
{
	(void)f;
	return ++*(int *)ud >= 100 ? -ECANCELED : 0;
}

static void
write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0);
	CHECK_INT(write(fd, p, n), ==, (long long)n);
	close(fd);
}

/* Pending chunks of an earlier session go; this session's stay; orphans go. */
static void
test_gc(const char *dir)
{
	struct tsn_store *s;
	struct tsn_store_stat st;
	struct tsn_uri u1, u2;
	uint8_t d1[8192], d2[8192], c[BLK], cid[TSN_ID_LEN];
	char path[512], hex[2 * TSN_ID_LEN + 1];
	uint64_t bytes;
	int n = 0;

	randombytes_buf(d1, sizeof(d1));
	randombytes_buf(d2, sizeof(d2));
	s = open_store(dir, 0);
	CHECK_INT(encode(s, d1, sizeof(d1), 1024, &u1), ==, 0); /* a put that never commits */
	CHECK_INT(encode(s, d2, sizeof(d2), 1024, &u2), ==, 0);
	tsn_store_close(s);

	s = open_store(dir, 0);
	/* Run the second put again: its chunks are this session's now. */
	CHECK_INT(encode(s, d2, sizeof(d2), 1024, &u2), ==, 0);
	/* An orphan body and a temp file of an earlier session. */
	rand_block(c, sizeof(c), cid);
	tsn_hex(cid, TSN_ID_LEN, hex);
	snprintf(path, sizeof(path), "%s/chunks/%.2s/%s", dir, hex, hex);
	write_file(path, c, sizeof(c));
	snprintf(path, sizeof(path), "%s/chunks/tmp/999999-1", dir);
	write_file(path, c, 100);
	tsn_store_stat(s, &st);
	CHECK_U64(st.chunks[TSN_STAT_PENDING], ==, 18); /* 8 + 1 per file */

	CHECK_INT(tsn_store_gc(s, &bytes), ==, 9 + 1);
	CHECK(access(path, F_OK) != 0);
	tsn_store_stat(s, &st);
	CHECK_U64(st.chunks[TSN_STAT_PENDING], ==, 9);
	CHECK_INT(read_file(s, &u1, d1, sizeof(d1)), ==, -ENOENT);
	CHECK_INT(read_file(s, &u2, d2, sizeof(d2)), ==, 0);
	{
		struct tsn_file_info fi = {.uri = u1};

		CHECK_INT(tsn_store_file_commit(s, &fi), ==, -ENOENT);
		fi.uri = u2;
		snprintf(fi.name, sizeof(fi.name), "two");
		CHECK_INT(tsn_store_file_commit(s, &fi), ==, 0);
		CHECK_INT(tsn_store_file_get(s, &u2, &fi), ==, 0);
		CHECK(fi.mtime > 0); /* 0 = now */
	}
	CHECK_INT(tsn_store_file_list(s, count_file, &n), ==, 0);
	CHECK_INT(n, ==, 1);
	tsn_store_close(s);

	/* Committed: pinned, no pending left for a later gc. */
	s = open_store(dir, 0);
	CHECK_INT(tsn_store_gc(s, NULL), ==, 0);
	CHECK_INT(read_file(s, &u2, d2, sizeof(d2)), ==, 0);
	tsn_store_close(s);
}

/* A body cut short (a machine crash) is an I/O error, not a short read. */
static void
test_corrupt(const char *dir)
{
	struct tsn_store *s = open_store(dir, 0);
	uint8_t c[BLK], out[BLK], id[TSN_ID_LEN];
	char path[512], hex[2 * TSN_ID_LEN + 1];

	rand_block(c, sizeof(c), id);
	CHECK_INT(tsn_store_chunk_put(s, id, c, sizeof(c), TSN_CHUNK_HELD), ==, 0);
	tsn_hex(id, TSN_ID_LEN, hex);
	snprintf(path, sizeof(path), "%s/chunks/%.2s/%s", dir, hex, hex);
	CHECK_INT(truncate(path, 100), ==, 0);
	CHECK_INT(tsn_store_chunk_get(s, id, out, sizeof(out)), ==, -EIO);
	/* A put of the same chunk repairs it. */
	CHECK_INT(tsn_store_chunk_put(s, id, c, sizeof(c), TSN_CHUNK_HELD), ==, 0);
	CHECK_INT(tsn_store_chunk_get(s, id, out, sizeof(out)), ==, BLK);
	CHECK_MEM(out, c, BLK);
	/* A held body that vanished: -EIO; a cached one is forgotten. */
	CHECK_INT(unlink(path), ==, 0);
	CHECK_INT(tsn_store_chunk_get(s, id, out, sizeof(out)), ==, -EIO);
	CHECK_INT(tsn_store_chunk_drop(s, id), ==, 0);
	rand_block(c, sizeof(c), id);
	CHECK_INT(tsn_store_chunk_put(s, id, c, sizeof(c), TSN_CHUNK_CACHED), ==, 0);
	tsn_hex(id, TSN_ID_LEN, hex);
	snprintf(path, sizeof(path), "%s/chunks/%.2s/%s", dir, hex, hex);
	CHECK_INT(unlink(path), ==, 0);
	CHECK_INT(tsn_store_chunk_get(s, id, out, sizeof(out)), ==, -ENOENT);
	CHECK_INT(tsn_store_chunk_has(s, id), ==, 0);
	tsn_store_close(s);
}

static void
test_secret(const char *dir)
{
	struct tsn_store *s = open_store(dir, 0);
	struct tsn_secret a, b;
	char path[512];
	struct stat st;

	CHECK_INT(tsn_store_private_secret(s, &a), ==, 0);
	CHECK_INT(tsn_store_private_secret(s, &b), ==, 0);
	CHECK_MEM(a.b, b.b, sizeof(a.b));
	snprintf(path, sizeof(path), "%s/secret", dir);
	CHECK_INT(stat(path, &st), ==, 0);
	CHECK_INT(st.st_mode & 0777, ==, 0600);
	CHECK_INT(st.st_size, ==, 32);
	tsn_store_close(s);
	s = open_store(dir, 0);
	CHECK_INT(tsn_store_private_secret(s, &b), ==, 0);
	CHECK_MEM(a.b, b.b, sizeof(a.b));
	CHECK_INT(truncate(path, 31), ==, 0);
	CHECK_INT(tsn_store_private_secret(s, &b), ==, -EIO);
	tsn_store_close(s);
}

/* Everything survives close and open; the mode of the data dir is 0700. */
static void
test_reopen(const char *dir)
{
	struct tsn_store *s = open_store(dir, 0);
	struct tsn_store_stat st1, st2;
	struct tsn_file_info fi;
	struct tsn_uri u;
	uint8_t d[50000], c[BLK], id[TSN_ID_LEN], out[BLK];
	struct stat st;

	CHECK_INT(stat(dir, &st), ==, 0);
	CHECK_INT(st.st_mode & 0777, ==, 0700);
	randombytes_buf(d, sizeof(d));
	put_file(s, d, sizeof(d), 1024, "kept", &u);
	rand_block(c, sizeof(c), id);
	CHECK_INT(tsn_store_chunk_put(s, id, c, sizeof(c), TSN_CHUNK_CACHED), ==, 0);
	tsn_store_stat(s, &st1);
	tsn_store_close(s);
	s = open_store(dir, 0);
	tsn_store_stat(s, &st2);
	CHECK_MEM(&st1, &st2, sizeof(st1));
	CHECK_INT(tsn_store_file_get(s, &u, &fi), ==, 0);
	CHECK_STR(fi.name, "kept");
	CHECK_INT(read_file(s, &u, d, sizeof(d)), ==, 0);
	CHECK_INT(tsn_store_chunk_get(s, id, out, sizeof(out)), ==, BLK);
	CHECK_MEM(out, c, BLK);
	tsn_store_close(s);
}

typedef void (*test_fn)(const char *dir);

int
main(void)
{
	static const struct { const char *name; test_fn fn; } tests[] = {
		{"roundtrip", test_roundtrip}, {"lock", test_lock},
		{"refcounts", test_refcounts}, {"repeats", test_repeats},
		{"eviction", test_eviction}, {"stats", test_stats}, {"gc", test_gc},
		{"lifetime", test_lifetime}, {"layout", test_layout},
		{"cached_direct", test_cached_direct},
		{"corrupt", test_corrupt}, {"secret", test_secret}, {"reopen", test_reopen},
	};
	char base[] = "/tmp/tsn-test-store-XXXXXX", dir[64];

	CHECK(sodium_init() >= 0);
	CHECK(mkdtemp(base) != NULL);
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		snprintf(dir, sizeof(dir), "%s/%s", base, tests[i].name);
		tests[i].fn(dir);
		fprintf(stderr, "ok %s\n", tests[i].name);
	}
	rmrf(base);
	return 0;
}
