/*
 * test_store_crash.c: kill -9 a process that puts files, many times; and
 * several threads on one store.
 *
 * Each round forks a child that opens the store and puts random files
 * (chunk_put as pending, then file_commit) in a loop, reporting each file
 * on a pipe once its commit returned. The parent kills it with SIGKILL at a
 * random moment, then: the store must open; every reported file must be
 * recorded and read back byte for byte (content regenerated from its seed);
 * gc must not hurt them; the put that was cut short is run again to
 * completion. At the end every file is removed and gc must leave nothing.
 *
 * First, the same store is hammered by several threads (put, get, drop, gc
 * of overlapping chunks under a small quota); the stats kept in memory must
 * then match the ones counted from the index at the next open.
 *
 * TSN_CRASH_SEED=N replays a run (the seed is printed).
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "check.h"
#include "store.h"
#include "tree.h"

#define ROUNDS 24
#define MAX_SIZE (1u << 20)
#define CHUNK 4096u
#define MAX_FILES 4096

struct rec {
	uint64_t seed;
	struct tsn_uri uri;
};

static uint64_t
splitmix(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/*
 * The content of file `seed`: random bytes, text-like (compressible), or a
 * few chunks repeated (the same chunk many times in one file, and shared
 * between files of the same kind).
 */
static size_t
gen(uint64_t seed, uint8_t *buf)
{
	uint64_t x = seed, v;
	size_t n = (size_t)(splitmix(&x) % (MAX_SIZE + 1)), i;
	int kind = (int)(splitmix(&x) % 3);

	for (i = 0; i < n; i += 8) {
		v = splitmix(&x);
		if (kind == 1)
			v &= UINT64_C(0x0f0f0f0f0f0f0f0f);
		memcpy(buf + i, &v, n - i < 8 ? n - i : 8);
	}
	if (kind == 2) {
		uint64_t y = seed % 4; /* four families of repeated chunks */

		for (i = 0; i < n; i += CHUNK) {
			uint64_t z = y * 8 + splitmix(&x) % 8;

			for (size_t j = 0; j < CHUNK && i + j < n; j += 8) {
				v = splitmix(&z);
				memcpy(buf + i + j, &v, n - i - j < 8 ? n - i - j : 8);
			}
		}
	}
	return n;
}

static int
put_cb(void *ud, const struct tsn_chunk_ref *ref, int kind, const uint8_t *block, size_t len)
{
	(void)kind;
	return tsn_store_chunk_put(ud, ref->id, block, len, TSN_CHUNK_PENDING);
}

/* Put and commit file `seed`. Returns 0 or -errno. */
static int
put_file(struct tsn_store *s, uint64_t seed, uint8_t *buf, struct tsn_uri *uri)
{
	struct tsn_encoder_opts o = {.chunk_size = CHUNK};
	struct tsn_file_info fi;
	struct tsn_encoder *e;
	size_t n = gen(seed, buf);
	int rc;

	if ((rc = tsn_encoder_new(&e, &o, put_cb, s)) != 0)
		return rc;
	rc = tsn_encoder_write(e, buf, n);
	if (rc == 0)
		rc = tsn_encoder_finish(e, uri);
	tsn_encoder_free(e);
	if (rc != 0)
		return rc;
	memset(&fi, 0, sizeof(fi));
	fi.uri = *uri;
	snprintf(fi.name, sizeof(fi.name), "file-%llu", (unsigned long long)seed);
	return tsn_store_file_commit(s, &fi);
}

static void
check_file(struct tsn_store *s, const struct rec *r, uint8_t *want, uint8_t *got)
{
	struct tsn_file_info fi;
	struct tsn_reader *rd;
	size_t n = gen(r->seed, want), off = 0;
	ssize_t k;
	int rc;

	rc = tsn_store_file_get(s, &r->uri, &fi);
	if (rc != 0)
		fprintf(stderr, "file of seed %llu: not recorded\n", (unsigned long long)r->seed);
	CHECK_INT(rc, ==, 0);
	CHECK_U64(r->uri.size, ==, n);
	CHECK_INT(tsn_reader_open(&rd, &r->uri, tsn_store_fetch, s), ==, 0);
	while (off < n) {
		k = tsn_reader_pread(rd, got + off, 65536, off);
		if (k <= 0)
			fprintf(stderr, "seed %llu at %zu: %s\n", (unsigned long long)r->seed, off,
			        tsn_reader_error(rd));
		CHECK_INT(k, >, 0);
		off += (size_t)k;
	}
	CHECK_U64(off, ==, n);
	CHECK_INT(tsn_reader_pread(rd, got, 1, n), ==, 0);
	CHECK(memcmp(want, got, n) == 0);
	tsn_reader_free(rd);
}

static struct tsn_store *
open_store(const char *dir)
{
	struct tsn_store *s = NULL;
	char err[256];
	int rc = tsn_store_open(&s, dir, NULL, err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "open after kill: %s\n", err);
	CHECK_INT(rc, ==, 0);
	return s;
}

static void __attribute__((noreturn))
child(const char *dir, uint64_t first, int wfd, uint8_t *buf)
{
	struct tsn_store *s = NULL;
	struct rec r;
	char err[256];
	int rc;

	if ((rc = tsn_store_open(&s, dir, NULL, err, sizeof(err))) != 0) {
		fprintf(stderr, "child: open: %s\n", err);
		_exit(2);
	}
	for (uint64_t seed = first;; seed++) {
		memset(&r, 0, sizeof(r));
		r.seed = seed;
		if ((rc = put_file(s, seed, buf, &r.uri)) != 0) {
			fprintf(stderr, "child: put seed %llu: %s\n", (unsigned long long)seed,
			        strerror(-rc));
			_exit(3);
		}
		if (write(wfd, &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(4);
	}
}

#define BLK 4096

static struct tsn_store *
open_quota(const char *dir, uint64_t quota)
{
	struct tsn_store_opts o = {.quota = quota};
	struct tsn_store *s = NULL;
	char err[256];

	if (tsn_store_open(&s, dir, &o, err, sizeof(err)) != 0)
		fprintf(stderr, "open %s: %s\n", dir, err);
	CHECK(s != NULL);
	return s;
}

static void
rand_block(uint8_t *b, size_t len, uint8_t id[TSN_ID_LEN])
{
	randombytes_buf(b, len);
	tsn_block_id(b, len, id);
}

#define NTHREADS 4
#define NSHARED 64

struct worker {
	struct tsn_store *s;
	uint8_t (*blk)[BLK];
	uint8_t (*id)[TSN_ID_LEN];
	unsigned seed;
};

/* Puts, gets, drops and gc of overlapping chunks from several threads. */
static void *
work(void *arg)
{
	struct worker *w = arg;
	uint8_t out[BLK];
	long n;

	for (int i = 0; i < 2000; i++) {
		int k = rand_r(&w->seed) % NSHARED, op = rand_r(&w->seed) % 16;
		enum tsn_chunk_role role = (enum tsn_chunk_role)(op % 3);

		if (op < 8) {
			n = tsn_store_chunk_put(w->s, w->id[k], w->blk[k], BLK, role);
			CHECK(n == 0 || n == -ENOSPC); /* held and pending ones fill it */
		} else if (op < 14) {
			n = tsn_store_chunk_get(w->s, w->id[k], out, sizeof(out));
			CHECK(n == BLK || n == -ENOENT);
			if (n == BLK)
				CHECK_MEM(out, w->blk[k], BLK);
		} else if (op == 14) {
			n = tsn_store_chunk_drop(w->s, w->id[k]);
			CHECK(n == 0 || n == -ENOENT);
		} else {
			CHECK_INT(tsn_store_gc(w->s, NULL), >=, 0);
		}
	}
	return NULL;
}

static void
test_threads(const char *dir)
{
	static uint8_t blk[NSHARED][BLK], id[NSHARED][TSN_ID_LEN];
	struct tsn_store *s = open_quota(dir, 40 * BLK);
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	struct tsn_store_stat st1, st2;

	for (int i = 0; i < NSHARED; i++)
		rand_block(blk[i], BLK, id[i]);
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){s, blk, id, (unsigned)i + 1};
		CHECK_INT(pthread_create(&t[i], NULL, work, &w[i]), ==, 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	tsn_store_stat(s, &st1);
	CHECK_U64(st1.bytes[0] + st1.bytes[1] + st1.bytes[2] + st1.bytes[3], <=, st1.quota);
	tsn_store_close(s);
	/* The stats kept in memory match the ones counted from the index. */
	s = open_quota(dir, 40 * BLK);
	tsn_store_stat(s, &st2);
	st1.evicted = st2.evicted = 0;
	CHECK_MEM(&st1, &st2, sizeof(st1));
	tsn_store_close(s);
}


static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static long bodies;

static int
count_bodies(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)path;
	if (flag == FTW_F && ftw->level == 4)
		bodies++;
	return 0;
}

int
main(void)
{
	char dir[] = "/tmp/tsn-test-crash-XXXXXX", path[64], tdir[64];
	static struct rec recs[MAX_FILES];
	struct tsn_store_stat st;
	struct tsn_store *s;
	uint8_t *want = malloc(MAX_SIZE), *got = malloc(MAX_SIZE);
	const char *env = getenv("TSN_CRASH_SEED");
	unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
	size_t nrec = 0, mark;
	int p[2], status, killed_mid = 0;
	long dropped;

	CHECK(want != NULL && got != NULL);
	CHECK(sodium_init() >= 0);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/data", dir);
	fprintf(stderr, "TSN_CRASH_SEED=%u\n", seed);
	srand(seed);
	snprintf(tdir, sizeof(tdir), "%s/threads", dir);
	test_threads(tdir);

	for (int round = 0; round < ROUNDS; round++) {
		uint64_t first = (uint64_t)seed * 100000 + (uint64_t)round * 1000, cut;
		struct rec r;
		pid_t pid;

		CHECK(nrec + 1 < MAX_FILES);
		CHECK_INT(pipe(p), ==, 0);
		fflush(stderr);
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			child(path, first, p[1], want);
		}
		close(p[1]);
		usleep((useconds_t)(rand() % 400000));
		CHECK_INT(kill(pid, SIGKILL), ==, 0);
		CHECK_INT(waitpid(pid, &status, 0), ==, pid);
		if (!WIFSIGNALED(status))
			fprintf(stderr, "child exited on its own with %d\n", WEXITSTATUS(status));
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		mark = nrec;
		while (read(p[0], &r, sizeof(r)) == (ssize_t)sizeof(r)) {
			CHECK(nrec < MAX_FILES);
			recs[nrec++] = r;
		}
		close(p[0]);

		s = open_store(path);
		for (size_t i = mark; i < nrec; i++)
			check_file(s, &recs[i], want, got);
		/* Half the time the cut put runs again before gc, reusing its pending chunks. */
		cut = first + (nrec - mark);
		if (round % 2 == 0) {
			CHECK_INT(put_file(s, cut, want, &recs[nrec].uri), ==, 0);
			recs[nrec++].seed = cut;
		}
		dropped = tsn_store_gc(s, NULL);
		CHECK_INT(dropped, >=, 0);
		if (round % 2 == 1) {
			CHECK_INT(put_file(s, cut, want, &recs[nrec].uri), ==, 0);
			recs[nrec++].seed = cut;
		}
		tsn_store_stat(s, &st);
		CHECK_U64(st.files, ==, nrec);
		CHECK_U64(st.chunks[TSN_STAT_CACHED], ==, 0);
		for (size_t i = round % 6 == 5 ? 0 : mark; i < nrec; i++)
			check_file(s, &recs[i], want, got);
		tsn_store_close(s);
		killed_mid += dropped > 0;
		fprintf(stderr, "round %d: %zu files committed before the kill, gc dropped %ld\n",
		        round, nrec - mark - 1, dropped);
	}

	/* A fresh session: no pending chunk is left after gc; remove all, gc, empty. */
	s = open_store(path);
	CHECK_INT(tsn_store_gc(s, NULL), >=, 0);
	tsn_store_stat(s, &st);
	CHECK_U64(st.chunks[TSN_STAT_PENDING], ==, 0);
	for (size_t i = 0; i < nrec; i++)
		check_file(s, &recs[i], want, got);
	for (size_t i = 0; i < nrec; i++)
		CHECK_INT(tsn_store_file_remove(s, &recs[i].uri), ==, 0);
	tsn_store_stat(s, &st);
	CHECK_U64(st.files, ==, 0);
	CHECK_U64(st.chunks[TSN_STAT_PINNED], ==, 0);
	CHECK_INT(tsn_store_gc(s, NULL), >, 0);
	tsn_store_stat(s, &st);
	for (int r = 0; r < 4; r++)
		CHECK_U64(st.chunks[r], ==, 0);
	tsn_store_close(s);
	nftw(path, count_bodies, 16, FTW_PHYS);
	CHECK_INT(bodies, ==, 0);
	fprintf(stderr, "%zu files, %d rounds where gc found a cut put's chunks\n", nrec,
	        killed_mid);

	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(want);
	free(got);
	return 0;
}
