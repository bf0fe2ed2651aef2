/*
 * test_tree.c: the tree encoder and reader over an in-memory block map:
 * sizes around every boundary, multi-level trees, threads, determinism,
 * tampering, missing blocks, shape checks, walk, bounded memory.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "check.h"
#include "tree.h"
#include "tree_i.h"
#include "util.h"

/* ---- an in-memory block map ---- */

#define MAP_CAP (1u << 16)

struct entry {
	bool used, missing;
	int kind;
	unsigned visits;
	uint8_t id[TSN_ID_LEN];
	uint8_t *blk;
	size_t len;
};

struct map {
	struct entry e[MAP_CAP];
	unsigned nputs, nindex, nunique;
	bool check_order; /* decode each node as it comes: its children must be there */
	int fail_at;      /* put number that fails with -ENOSPC, or -1 */
	struct tsn_codec *codec;
	uint8_t *spare;   /* swap_cb's own buffer, traded for the reader's */
	unsigned swaps;
};

static struct map *
map_new(void)
{
	struct map *m = calloc(1, sizeof(*m));
	CHECK(m != NULL);
	m->codec = tsn_codec_new();
	CHECK(m->codec != NULL);
	m->fail_at = -1;
	m->check_order = true;
	return m;
}

static void
map_free(struct map *m)
{
	for (unsigned i = 0; i < MAP_CAP; i++)
		free(m->e[i].blk);
	free(m->spare);
	tsn_codec_free(m->codec);
	free(m);
}

static struct entry *
map_slot(struct map *m, const uint8_t *id)
{
	uint32_t h;
	memcpy(&h, id, sizeof(h));
	for (uint32_t i = h % MAP_CAP;; i = (i + 1) % MAP_CAP)
		if (!m->e[i].used || memcmp(m->e[i].id, id, TSN_ID_LEN) == 0)
			return &m->e[i];
}

static struct entry *
map_find(struct map *m, const uint8_t *id)
{
	struct entry *e = map_slot(m, id);
	return e->used ? e : NULL;
}

static int
put_cb(void *ud, const struct tsn_chunk_ref *ref, int kind, const uint8_t *block, size_t len)
{
	struct map *m = ud;
	struct entry *e;
	uint8_t id[TSN_ID_LEN];

	if ((int)m->nputs == m->fail_at)
		return -ENOSPC;
	m->nputs++;
	CHECK_INT(len, <=, TSN_BLOCK_MAX);
	tsn_block_id(block, len, id);
	CHECK_MEM(id, ref->id, TSN_ID_LEN);
	if (kind == TSN_BLOCK_INDEX) {
		m->nindex++;
		if (m->check_order) {
			static uint8_t copy[TSN_BLOCK_MAX], node[TSN_CHUNK_MAX];
			struct tsn_tree_node nd;
			long n;
			memcpy(copy, block, len);
			n = tsn_codec_decode(m->codec, ref, TSN_BLOCK_INDEX, copy, len, node,
			                     sizeof(node), NULL);
			CHECK_INT(n, >, 0);
			CHECK_INT(tsn_tree_node_parse(node, (size_t)n, &nd, NULL), ==, 0);
			for (uint32_t i = 0; i < nd.count; i++) {
				struct tsn_chunk_ref c;
				tsn_tree_node_entry(&nd, i, &c);
				CHECK(map_find(m, c.id) != NULL); /* children before parents */
			}
		}
	}
	e = map_slot(m, ref->id);
	if (e->used)
		return 0;
	e->used = true;
	e->kind = kind;
	memcpy(e->id, ref->id, TSN_ID_LEN);
	e->blk = malloc(len + 1);
	CHECK(e->blk != NULL);
	memcpy(e->blk, block, len);
	e->len = len;
	m->nunique++;
	return 0;
}

static long
fetch_cb(void *ud, const uint8_t id[TSN_ID_LEN], uint8_t *buf, size_t cap)
{
	struct entry *e = map_find(ud, id);

	if (e == NULL || e->missing)
		return -ENOENT;
	CHECK_INT(cap, >=, TSN_BLOCK_MAX);
	memcpy(buf, e->blk, e->len);
	return (long)e->len;
}

/*
 * A fetch that trades buffers (tsn_reader_fetch_swaps): the block goes into
 * its own buffer, which it hands over; the reader's buffer it gets back is
 * scribbled over, so a reader still using it reads garbage.
 */
static long
swap_cb(void *ud, const uint8_t id[TSN_ID_LEN], uint8_t **buf, size_t cap)
{
	struct map *m = ud;
	struct entry *e = map_find(m, id);
	uint8_t *mine;

	if (e == NULL || e->missing)
		return -ENOENT;
	CHECK_INT(cap, ==, TSN_BLOCK_MAX);
	if (m->spare == NULL)
		CHECK((m->spare = malloc(TSN_BLOCK_MAX)) != NULL);
	mine = m->spare;
	memcpy(mine, e->blk, e->len);
	m->spare = *buf;
	memset(m->spare, 0xa5, TSN_BLOCK_MAX);
	*buf = mine;
	m->swaps++;
	return (long)e->len;
}

/* ---- data ---- */

static uint64_t rng_state = 0x2545f4914f6cdd1du;

static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint8_t *
make_data(size_t n, bool compressible)
{
	uint8_t *p = malloc(n + 1);
	CHECK(p != NULL);
	for (size_t i = 0; i < n; i++)
		p[i] = compressible ? (uint8_t)("abcdefgh\n"[(i / 7 + rng() % 2) % 9]) : (uint8_t)(rng() >> 32);
	return p;
}

/* ---- encode and read back ---- */

static int
encode(struct map *m, const uint8_t *data, size_t size, uint32_t cs, unsigned threads,
       const struct tsn_secret *conv, size_t step, struct tsn_uri *uri)
{
	struct tsn_encoder_opts o = {.conv = conv, .chunk_size = cs, .threads = threads};
	struct tsn_encoder *e;
	int rc;

	CHECK_INT(tsn_encoder_new(&e, &o, put_cb, m), ==, 0);
	for (size_t off = 0; off < size;) {
		size_t n = step == 0 || step > size - off ? size - off : step;
		if ((rc = tsn_encoder_write(e, data + off, n)) != 0) {
			/* Poisoned after an error. */
			CHECK_INT(tsn_encoder_write(e, data, 0), ==, rc);
			CHECK_INT(tsn_encoder_finish(e, uri), ==, rc);
			tsn_encoder_free(e);
			return rc;
		}
		off += n;
		CHECK_U64(tsn_encoder_size(e), ==, off);
	}
	rc = tsn_encoder_finish(e, uri);
	if (rc == 0)
		CHECK_U64(uri->size, ==, size);
	tsn_encoder_free(e);
	return rc;
}

struct walk_state {
	struct map *m;
	unsigned n, nodes;
	uint64_t data_bytes;
	bool in_order_ok;
	uint64_t next_chunk;
	struct tsn_reader *r;
};

static int
walk_cb(void *ud, const struct tsn_chunk_ref *ref, int kind)
{
	struct walk_state *w = ud;
	struct entry *e = map_find(w->m, ref->id);

	CHECK(e != NULL);
	CHECK_INT(e->kind, ==, kind);
	e->visits++;
	w->n++;
	if (kind == TSN_BLOCK_INDEX) {
		w->nodes++;
	} else {
		struct tsn_chunk_ref c;
		/* Data chunks come in file order and match chunk_ref. */
		CHECK_INT(tsn_reader_chunk_ref(w->r, w->next_chunk, &c), ==, 0);
		CHECK_MEM(&c, ref, sizeof(c));
		w->next_chunk++;
		w->data_bytes += ref->len;
	}
	return 0;
}

static unsigned
expected_nodes(uint64_t size, uint32_t cs)
{
	uint64_t n = tsn_tree_chunks(size, cs), f = tsn_tree_fanout(cs);
	unsigned d = tsn_tree_depth(size, cs), nodes = 0;
	uint64_t span = f;

	for (unsigned l = 0; l <= d; l++, span *= f)
		nodes += (unsigned)(n == 0 ? 1 : (n + span - 1) / span);
	return nodes;
}

static void
read_back(struct map *m, const struct tsn_uri *uri, const uint8_t *data, size_t size,
          uint32_t cs, unsigned nrandom, bool swap)
{
	struct tsn_reader *r;
	struct walk_state w = {.m = m};
	char err[256];
	uint8_t *buf = malloc(size + 100);
	ssize_t got;
	size_t done;

	CHECK(buf != NULL);
	err[0] = '\0';
	if (tsn_reader_open_err(&r, uri, fetch_cb, m, err, sizeof(err)) != 0) {
		fprintf(stderr, "open: %s\n", err);
		exit(1);
	}
	CHECK_U64(tsn_reader_size(r), ==, size);
	CHECK_U64(tsn_reader_chunk_size(r), ==, cs);
	if (swap)
		tsn_reader_fetch_swaps(r, swap_cb);

	/* Sequential, in reads of an odd size. */
	for (done = 0; done < size; done += (size_t)got) {
		got = tsn_reader_pread(r, buf + done, 70001, done);
		CHECK_INT(got, >, 0);
	}
	CHECK_U64(done, ==, size);
	CHECK(size == 0 || memcmp(buf, data, size) == 0);
	/* One read of everything and more. */
	memset(buf, 0, size);
	CHECK_INT(tsn_reader_pread(r, buf, size + 100, 0), ==, (long)size);
	CHECK(size == 0 || memcmp(buf, data, size) == 0);
	/* At and past the end. */
	CHECK_INT(tsn_reader_pread(r, buf, 10, size), ==, 0);
	CHECK_INT(tsn_reader_pread(r, buf, 10, size + 12345), ==, 0);
	CHECK_INT(tsn_reader_pread(r, buf, 10, UINT64_MAX), ==, 0);
	/* Random offsets and lengths. */
	for (unsigned i = 0; i < nrandom && size > 0; i++) {
		uint64_t off = rng() % size;
		size_t len = (size_t)(rng() % (3 * (uint64_t)cs));
		size_t want = len < size - off ? len : (size_t)(size - off);
		got = tsn_reader_pread(r, buf, len, off);
		CHECK_INT(got, ==, (long)want);
		CHECK_MEM(buf, data + off, want);
		/* Another chunk's ref may load nodes (as read-ahead does); the
		 * chunk kept decoded must survive it. */
		CHECK_INT(tsn_reader_chunk_ref(r, rng() % tsn_tree_chunks(size, cs),
		                               &(struct tsn_chunk_ref){0}), ==, 0);
		got = tsn_reader_pread(r, buf, len, off);
		CHECK_INT(got, ==, (long)want);
		CHECK_MEM(buf, data + off, want);
	}

	/* Walk: each block once, nodes as expected, data in file order. */
	for (unsigned i = 0; i < MAP_CAP; i++)
		m->e[i].visits = 0;
	w.r = r;
	CHECK_INT(tsn_reader_walk(r, walk_cb, &w), ==, 0);
	CHECK_U64(w.data_bytes, ==, size);
	CHECK_U64(w.next_chunk, ==, tsn_tree_chunks(size, cs));
	CHECK_INT(w.nodes, ==, expected_nodes(size, cs));
	CHECK_INT(tsn_reader_chunk_ref(r, w.next_chunk, &(struct tsn_chunk_ref){0}), ==, -EINVAL);
	tsn_reader_free(r);
	free(buf);
	tsn_reader_free(NULL);
}

/* Encode, check the puts, read back. Returns the URI. */
static struct tsn_uri
round_trip(const uint8_t *data, size_t size, uint32_t cs, unsigned threads, size_t step,
           unsigned nrandom)
{
	struct map *m = map_new();
	struct tsn_uri uri;
	uint32_t real_cs = cs == 0 ? TSN_CHUNK_DEFAULT : cs;

	CHECK_INT(encode(m, data, size, cs, threads, NULL, step, &uri), ==, 0);
	CHECK_INT(m->nindex, ==, expected_nodes(size, real_cs));
	CHECK_U64(m->nputs, ==, tsn_tree_chunks(size, real_cs) + m->nindex);
	read_back(m, &uri, data, size, real_cs, nrandom, false);
	/* Again with a fetch that trades buffers: raw chunks are then read
	 * where they were decrypted, in buffers that move around. */
	m->swaps = 0;
	read_back(m, &uri, data, size, real_cs, nrandom, true);
	CHECK(size <= real_cs || m->swaps > 0);
	/* With distinct chunks, the walk visits each stored block exactly once. */
	if (m->nunique == m->nputs)
		for (unsigned i = 0; i < MAP_CAP; i++)
			if (m->e[i].used)
				CHECK_INT(m->e[i].visits, ==, 1);
	map_free(m);
	return uri;
}

static void
test_shape_math(void)
{
	CHECK_INT(tsn_tree_fanout(1024), ==, 14);
	CHECK_INT(tsn_tree_fanout(TSN_CHUNK_MAX), ==, 3854);
	CHECK_INT(tsn_tree_depth(0, 1024), ==, 0);
	CHECK_INT(tsn_tree_depth(1, 1024), ==, 0);
	CHECK_INT(tsn_tree_depth(14 * 1024, 1024), ==, 0);
	CHECK_INT(tsn_tree_depth(14 * 1024 + 1, 1024), ==, 1);
	CHECK_INT(tsn_tree_depth(196 * 1024, 1024), ==, 1);
	CHECK_INT(tsn_tree_depth(196 * 1024 + 1, 1024), ==, 2);
	CHECK_INT(tsn_tree_depth(2744 * 1024, 1024), ==, 2);
	CHECK_INT(tsn_tree_depth(2744 * 1024 + 1, 1024), ==, 3);
	CHECK_INT(tsn_tree_depth(UINT64_MAX, 1024), >, TSN_TREE_MAX_DEPTH);
	CHECK_INT(tsn_tree_depth(TSN_FILE_MAX, TSN_CHUNK_MAX), ==, 2);
	CHECK_INT(tsn_tree_depth(UINT64_MAX, TSN_CHUNK_MAX), <, 10);
	CHECK_U64(tsn_tree_max_size(TSN_CHUNK_MAX), ==, TSN_FILE_MAX);
	CHECK_U64(tsn_tree_max_size(1024), ==, UINT64_C(20661046784) * 1024); /* 14^9 chunks */
}

static void
test_sizes(void)
{
	static const size_t sizes[] = {0, 1, TSN_CHUNK_MAX - 1, TSN_CHUNK_MAX, TSN_CHUNK_MAX + 1,
	                               3 * TSN_CHUNK_MAX + 17};
	uint8_t *data = make_data(10u << 20, false), *text = make_data(10u << 20, true);

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		round_trip(data, sizes[i], 0, 1, 0, 50);
		round_trip(text, sizes[i], 0, 1, 4096, 50);
	}
	/* 10 MiB in 64 KiB writes and in one write, 1 and 2 threads: one URI. */
	struct tsn_uri a = round_trip(data, 10u << 20, 0, 1, 65536, 200);
	struct tsn_uri b = round_trip(data, 10u << 20, 0, 2, 0, 20);
	struct tsn_uri c = round_trip(data, 10u << 20, 0, 3, 100000, 20);
	CHECK_MEM(&a, &b, sizeof(a));
	CHECK_MEM(&a, &c, sizeof(a));
	a = round_trip(text, 10u << 20, 0, 1, 65536, 200);
	b = round_trip(text, 10u << 20, 0, 2, 65536, 20);
	CHECK_MEM(&a, &b, sizeof(a));
	free(data);
	free(text);
}

static void
test_small_chunks(void)
{
	const uint32_t cs = 1024, f = 14;
	static const size_t nch[] = {1, f - 1, f, f + 1, f * f - 1, f * f, f * f + 1,
	                             2 * f * f + 3, f * f * f, f * f * f + 1};
	uint8_t *data = make_data(f * f * f * cs + 5000, false);
	uint8_t *text = make_data(f * f * f * cs + 5000, true);

	for (size_t i = 0; i < sizeof(nch) / sizeof(nch[0]); i++) {
		size_t exact = nch[i] * cs;
		unsigned nr = exact > 400000 ? 100 : 300;
		struct tsn_uri a, b;
		/* Exact multiple, one byte short of it (same chunk count), one over. */
		a = round_trip(data, exact, cs, 1, 0, nr);
		b = round_trip(data, exact, cs, 2, 777, nr);
		CHECK_MEM(&a, &b, sizeof(a));
		round_trip(data, exact - 1, cs, 1, 3000, nr);
		round_trip(text, exact + 1, cs, 2, 0, nr);
	}
	round_trip(data, 0, cs, 1, 0, 0);
	/* Byte-at-a-time writes. */
	{
		struct tsn_uri a = round_trip(data, 20 * cs + 3, cs, 1, 1, 50);
		struct tsn_uri b = round_trip(data, 20 * cs + 3, cs, 2, 0, 50);
		CHECK_MEM(&a, &b, sizeof(a));
	}
	free(data);
	free(text);
}

static void
test_determinism(void)
{
	uint8_t *data = make_data(300000, false);
	struct map *m = map_new();
	struct tsn_uri a, b, c;
	struct tsn_secret other;

	memset(&other, 0x42, sizeof(other));
	CHECK_INT(encode(m, data, 300000, 1024, 1, NULL, 0, &a), ==, 0);
	CHECK_INT(encode(m, data, 300000, 1024, 1, &tsn_secret_public, 999, &b), ==, 0);
	CHECK_MEM(&a, &b, sizeof(a));
	CHECK_INT(encode(m, data, 300000, 1024, 1, &other, 0, &c), ==, 0);
	CHECK(memcmp(a.id, c.id, 32) != 0);
	CHECK(memcmp(a.key, c.key, 32) != 0);
	read_back(m, &c, data, 300000, 1024, 50, false);
	/* Another chunk size: another tree. */
	CHECK_INT(encode(m, data, 300000, 2048, 1, NULL, 0, &c), ==, 0);
	CHECK(memcmp(a.id, c.id, 32) != 0);
	read_back(m, &c, data, 300000, 2048, 50, true);
	/* One byte changed: another URI. */
	data[123456] ^= 1;
	CHECK_INT(encode(m, data, 300000, 1024, 1, NULL, 0, &c), ==, 0);
	CHECK(memcmp(a.id, c.id, 32) != 0);
	map_free(m);
	free(data);
}

/* Read everything; returns 0 or the first error, with the reason in err. */
static int
read_all(struct map *m, const struct tsn_uri *uri, size_t size, char *err, size_t errlen)
{
	struct tsn_reader *r;
	uint8_t *buf = malloc(size + 1);
	int rc;

	CHECK(buf != NULL);
	err[0] = '\0';
	rc = tsn_reader_open_err(&r, uri, fetch_cb, m, err, errlen);
	if (rc == 0) {
		ssize_t got = tsn_reader_pread(r, buf, size, 0);
		if (got < 0) {
			rc = (int)got;
			snprintf(err, errlen, "%s", tsn_reader_error(r));
		} else {
			CHECK_INT(got, ==, (long)size);
		}
		tsn_reader_free(r);
	} else {
		CHECK(r == NULL);
	}
	free(buf);
	return rc;
}

static void
test_tamper(void)
{
	const size_t size = (14 * 14 + 1) * 1024 + 500; /* depth 2 */
	uint8_t *data = make_data(size, false);
	struct map *m = map_new();
	struct tsn_uri uri;
	char err[256], hex[65];
	unsigned tested = 0;

	CHECK_INT(encode(m, data, size, 1024, 1, NULL, 0, &uri), ==, 0);
	CHECK_INT(tsn_tree_depth(size, 1024), ==, 2);
	CHECK_INT(read_all(m, &uri, size, err, sizeof(err)), ==, 0);
	for (unsigned i = 0; i < MAP_CAP; i++) {
		struct entry *e = &m->e[i];
		size_t at;
		int rc;
		if (!e->used)
			continue;
		at = (tested * 131u) % e->len;
		tsn_hex(e->id, TSN_ID_LEN, hex);
		e->blk[at] ^= 0x10;
		rc = read_all(m, &uri, size, err, sizeof(err));
		e->blk[at] ^= 0x10;
		if (rc != -EBADMSG || strstr(err, hex) == NULL || strstr(err, "hash mismatch") == NULL) {
			fprintf(stderr, "tampered %s block %s at %zu: rc %d, \"%s\"\n",
			        e->kind == TSN_BLOCK_DATA ? "data" : "index", hex, at, rc, err);
			exit(1);
		}
		tested++;
	}
	CHECK_INT(tested, ==, m->nputs);

	/* Missing: the root, a node, a data chunk. */
	tested = 0;
	for (unsigned i = 0; i < MAP_CAP; i++) {
		struct entry *e = &m->e[i];
		int rc;
		if (!e->used)
			continue;
		tsn_hex(e->id, TSN_ID_LEN, hex);
		e->missing = true;
		rc = read_all(m, &uri, size, err, sizeof(err));
		e->missing = false;
		CHECK_INT(rc, ==, -ENOENT);
		CHECK(strstr(err, hex) != NULL);
		CHECK(strstr(err, "missing (No such file or directory)") != NULL);
		tested++;
	}
	CHECK_INT(tested, ==, m->nputs);

	/* The same blocks under a URI with another size do not fit the shape. */
	static const int64_t deltas[] = {-1, 1, -1024, 1024, -100000, 100000};
	for (size_t k = 0; k < sizeof(deltas) / sizeof(deltas[0]); k++) {
		struct tsn_uri u = uri;
		u.size = (uint64_t)((int64_t)size + deltas[k]);
		CHECK_INT(read_all(m, &u, (size_t)u.size, err, sizeof(err)), ==, -EBADMSG);
		CHECK(strstr(err, "index node") != NULL);
	}
	/* Wrong key for the root. */
	{
		struct tsn_uri u = uri;
		u.key[0] ^= 1;
		CHECK_INT(read_all(m, &u, size, err, sizeof(err)), ==, -EBADMSG);
		CHECK(strstr(err, "authentication failed") != NULL);
	}
	map_free(m);
	free(data);
}

/* Hand-made authentic trees with the wrong shape. */
static void
test_bad_shapes(void)
{
	struct map *m = map_new();
	struct tsn_codec *c = tsn_codec_new();
	static uint8_t blk[TSN_BLOCK_MAX], node[TSN_CHUNK_MAX], chunk[1024];
	struct tsn_chunk_ref refs[4], root;
	struct tsn_uri uri;
	char err[256];
	long n;

	m->check_order = false;
	memset(chunk, 'z', sizeof(chunk));
	for (int i = 0; i < 4; i++) {
		chunk[0] = (uint8_t)i;
		n = tsn_codec_encode(c, &tsn_secret_public, TSN_BLOCK_DATA, chunk,
		                     i == 3 ? 100 : 1024, blk, &refs[i]);
		CHECK_INT(put_cb(m, &refs[i], TSN_BLOCK_DATA, blk, (size_t)n), ==, 0);
	}
	/* A root (level 0) over 3 full chunks and a 100-byte one: good, then broken. */
	struct {
		const char *what;
		unsigned level;
		uint32_t cs;
		uint64_t size;
		uint32_t count;
		uint32_t len3;
		int kind;
		uint64_t urisize;
	} cases[] = {
		{NULL, 0, 1024, 3172, 4, 100, TSN_BLOCK_INDEX, 3172},
		{"level", 1, 1024, 3172, 4, 100, TSN_BLOCK_INDEX, 3172},
		{"chunk size", 0, 2048, 3172, 4, 100, TSN_BLOCK_INDEX, 3172},
		{"size", 0, 1024, 3173, 4, 100, TSN_BLOCK_INDEX, 3172},
		{"count", 0, 1024, 3172, 3, 100, TSN_BLOCK_INDEX, 3172},
		{"entry length", 0, 1024, 3172, 4, 101, TSN_BLOCK_INDEX, 3172},
		{"kind", 0, 1024, 3172, 4, 100, TSN_BLOCK_DATA, 3172},
		{"URI size", 0, 1024, 3172, 4, 100, TSN_BLOCK_INDEX, 3100},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		size_t len = TSN_TREE_NODE_HDR + cases[k].count * TSN_TREE_NODE_ENTRY;
		tsn_tree_node_put_header(node, cases[k].level, cases[k].cs, cases[k].size, cases[k].count);
		for (uint32_t i = 0; i < cases[k].count; i++) {
			struct tsn_chunk_ref r = refs[i];
			if (i == 3)
				r.len = cases[k].len3;
			tsn_tree_node_put_entry(node + TSN_TREE_NODE_HDR + i * TSN_TREE_NODE_ENTRY, &r);
		}
		n = tsn_codec_encode(c, &tsn_secret_public, cases[k].kind, node, len, blk, &root);
		CHECK_INT(put_cb(m, &root, cases[k].kind, blk, (size_t)n), ==, 0);
		uri.size = cases[k].urisize;
		memcpy(uri.id, root.id, 32);
		memcpy(uri.key, root.key, 32);
		if (cases[k].what == NULL) {
			CHECK_INT(read_all(m, &uri, 3172, err, sizeof(err)), ==, 0);
		} else if (read_all(m, &uri, (size_t)uri.size, err, sizeof(err)) != -EBADMSG) {
			fprintf(stderr, "accepted a root with a bad %s\n", cases[k].what);
			exit(1);
		}
	}
	/* A data chunk shorter than its entry says: the node fits, the chunk does not. */
	tsn_tree_node_put_header(node, 0, 1024, 3072, 3);
	for (uint32_t i = 0; i < 3; i++) {
		struct tsn_chunk_ref r = refs[i == 1 ? 3 : i];
		r.len = 1024;
		tsn_tree_node_put_entry(node + TSN_TREE_NODE_HDR + i * TSN_TREE_NODE_ENTRY, &r);
	}
	n = tsn_codec_encode(c, &tsn_secret_public, TSN_BLOCK_INDEX, node, TSN_TREE_NODE_HDR + 3 * 68,
	                     blk, &root);
	CHECK_INT(put_cb(m, &root, TSN_BLOCK_INDEX, blk, (size_t)n), ==, 0);
	uri.size = 3072;
	memcpy(uri.id, root.id, 32);
	memcpy(uri.key, root.key, 32);
	CHECK_INT(read_all(m, &uri, 3072, err, sizeof(err)), ==, -EBADMSG);
	CHECK(strstr(err, "length") != NULL);
	tsn_codec_free(c);
	map_free(m);
}

static void
test_bounded(void)
{
	const size_t size = 10u << 20, step = 65536;
	uint8_t *data = make_data(size, false);

	for (unsigned threads = 1; threads <= 2; threads++) {
		struct map *m = map_new();
		struct tsn_encoder_opts o = {.threads = threads};
		struct tsn_encoder *e;
		struct tsn_uri uri;
		CHECK_INT(tsn_encoder_new(&e, &o, put_cb, m), ==, 0);
		for (size_t off = 0; off < size; off += step) {
			CHECK_INT(tsn_encoder_write(e, data + off, step), ==, 0);
			/* At most `threads` whole chunks wait in the encoder. */
			CHECK_U64(m->nputs + threads, >=, (off + step) / TSN_CHUNK_MAX);
		}
		CHECK_INT(m->nputs, >=, 40 - threads);
		CHECK_INT(tsn_encoder_finish(e, &uri), ==, 0);
		CHECK_INT(m->nputs, ==, 41);
		/* Finished: no more writes or finishes. */
		CHECK_INT(tsn_encoder_write(e, data, 1), ==, -EINVAL);
		CHECK_INT(tsn_encoder_finish(e, &uri), ==, -EINVAL);
		tsn_encoder_free(e);
		map_free(m);
	}
	free(data);
}

/* put_mt: the encoding threads put the data blocks, here under a lock. */
struct mt_map {
	pthread_mutex_t mu;
	struct map *m;
};

static int
put_mt_cb(void *ud, const struct tsn_chunk_ref *ref, int kind, const uint8_t *block, size_t len)
{
	struct mt_map *mm = ud;
	int rc;

	pthread_mutex_lock(&mm->mu);
	rc = put_cb(mm->m, ref, kind, block, len);
	pthread_mutex_unlock(&mm->mu);
	return rc;
}

static unsigned
mt_puts(struct mt_map *mm)
{
	unsigned n;

	pthread_mutex_lock(&mm->mu);
	n = mm->m->nputs;
	pthread_mutex_unlock(&mm->mu);
	return n;
}

static void
test_put_mt(void)
{
	const size_t size = 23u * TSN_CHUNK_MAX + 12345, step = 100000;
	uint8_t *data = make_data(size, false);
	struct tsn_uri one = round_trip(data, size, 0, 1, 0, 0), uri;

	for (unsigned threads = 2; threads <= 3; threads++) {
		struct mt_map mm = {.m = map_new()};
		struct tsn_encoder_opts o = {.threads = threads, .put_mt = 1};
		struct tsn_encoder *e;
		int rc = 0;

		CHECK_INT(pthread_mutex_init(&mm.mu, NULL), ==, 0);
		CHECK_INT(tsn_encoder_new(&e, &o, put_mt_cb, &mm), ==, 0);
		for (size_t off = 0; off < size; off += step) {
			size_t n = step < size - off ? step : size - off;
			CHECK_INT(tsn_encoder_write(e, data + off, n), ==, 0);
			/* At most 2T + 1 whole chunks wait in the encoder. */
			CHECK_U64(mt_puts(&mm) + 2 * threads + 1, >=, (off + n) / TSN_CHUNK_MAX);
		}
		CHECK_INT(tsn_encoder_finish(e, &uri), ==, 0);
		tsn_encoder_free(e);
		/* The same URI as one thread; every node came after its children. */
		CHECK_MEM(uri.id, one.id, TSN_ID_LEN);
		CHECK_MEM(uri.key, one.key, TSN_KEY_LEN);
		CHECK_U64(uri.size, ==, size);
		CHECK_U64(mm.m->nputs, ==, tsn_tree_chunks(size, TSN_CHUNK_DEFAULT) + 1);
		read_back(mm.m, &uri, data, size, TSN_CHUNK_DEFAULT, 10, false);
		map_free(mm.m);

		/* A put that fails in a worker fails the encode with its error. */
		mm.m = map_new();
		mm.m->fail_at = 5;
		CHECK_INT(tsn_encoder_new(&e, &o, put_mt_cb, &mm), ==, 0);
		for (size_t off = 0; off < size && rc == 0; off += step)
			rc = tsn_encoder_write(e, data + off, step < size - off ? step : size - off);
		if (rc == 0)
			rc = tsn_encoder_finish(e, &uri);
		CHECK_INT(rc, ==, -ENOSPC);
		CHECK_INT(tsn_encoder_write(e, data, 1), ==, -ENOSPC);
		tsn_encoder_free(e);
		map_free(mm.m);
		pthread_mutex_destroy(&mm.mu);
	}
	free(data);
}

static void
test_errors(void)
{
	struct tsn_encoder *e = (struct tsn_encoder *)1;
	struct tsn_encoder_opts o = {0};
	uint8_t *data = make_data(100000, false);
	struct tsn_uri uri;
	struct map *m = map_new();

	o.chunk_size = TSN_CHUNK_MIN - 1;
	CHECK_INT(tsn_encoder_new(&e, &o, put_cb, m), ==, -EINVAL);
	CHECK(e == NULL);
	o.chunk_size = TSN_CHUNK_MAX + 1;
	CHECK_INT(tsn_encoder_new(&e, &o, put_cb, m), ==, -EINVAL);
	o.chunk_size = 0;
	CHECK_INT(tsn_encoder_new(&e, NULL, put_cb, m), ==, 0);
	CHECK_INT(tsn_encoder_write(e, data, (size_t)TSN_FILE_MAX + 1), ==, -EFBIG);
	CHECK_INT(tsn_encoder_write(e, data, 1), ==, -EFBIG);
	tsn_encoder_free(e);
	o.chunk_size = 1024;
	CHECK_INT(tsn_encoder_new(&e, &o, put_cb, m), ==, 0);
	CHECK_INT(tsn_encoder_write(e, data, 1000), ==, 0);
	CHECK_INT(tsn_encoder_write(e, data, (size_t)tsn_tree_max_size(1024) - 999), ==, -EFBIG);
	tsn_encoder_free(e);
	tsn_encoder_free(NULL);

	/* put failing: the error comes back, at write or at finish. */
	for (int at = 0; at < 100; at += 7) {
		for (unsigned threads = 1; threads <= 2; threads++) {
			m->fail_at = (int)m->nputs + at;
			CHECK_INT(encode(m, data, 100000, 1024, threads, NULL, 3000, &uri), ==, -ENOSPC);
		}
	}
	m->fail_at = -1;
	map_free(m);
	free(data);
}

int
main(void)
{
	test_shape_math();
	test_errors();
	test_determinism();
	test_bad_shapes();
	test_tamper();
	test_bounded();
	test_put_mt();
	test_small_chunks();
	test_sizes();
	return 0;
}
