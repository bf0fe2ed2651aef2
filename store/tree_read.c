/*
 * tree_read.c: reading a file through its tree (see tree.h).
 *
 * The shape follows from (S, C): node j of level l covers data chunks
 * [j * F^(l+1), min((j + 1) * F^(l+1), n)). Every node fetched is checked
 * against it (level, chunk size, bytes under it, count, and the length of
 * every entry), so a data chunk's length is known before it is fetched and
 * its decode checks it. One node per level and the last data chunk stay
 * decoded; reading down a path reuses them.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tree.h"
#include "tree_i.h"
#include "util.h"

struct rd_level {
	uint8_t *buf; /* a node's plaintext: TSN_TREE_NODE_HDR + F * TSN_TREE_NODE_ENTRY bytes */
	uint64_t idx; /* which node of this level buf holds */
	bool valid;
	struct tsn_tree_node node;
};

struct tsn_reader {
	tsn_fetch_fn fetch;
	tsn_fetch_swap_fn fetch_swap; /* used instead of fetch when set */
	void *ud;
	struct tsn_uri uri;
	uint32_t chunk_size, fanout;
	uint64_t nchunks;
	unsigned depth;
	uint64_t span[TSN_TREE_MAX_DEPTH + 1]; /* chunks under a node of level l */

	struct tsn_codec *codec;
	uint8_t *blk; /* TSN_BLOCK_MAX bytes: where fetched blocks land */
	bool ids_checked; /* fetch hashes blocks against their ids: decode need not */
	struct rd_level lv[TSN_TREE_MAX_DEPTH + 1];

	uint8_t *data; /* TSN_BLOCK_MAX bytes: trades places with blk */
	const uint8_t *plain; /* the decoded chunk, inside data */
	uint64_t data_idx;
	size_t data_len;
	bool data_valid;

	char err[256];
};

static void
set_err(struct tsn_reader *r, const uint8_t id[TSN_ID_LEN], const char *fmt, ...)
{
	char hex[2 * TSN_ID_LEN + 1];
	va_list ap;
	int n;

	tsn_hex(id, TSN_ID_LEN, hex);
	n = snprintf(r->err, sizeof(r->err), "chunk %s: ", hex);
	if (n < 0 || (size_t)n >= sizeof(r->err))
		return;
	va_start(ap, fmt);
	vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
	va_end(ap);
}

/*
 * Fetch and decode one block into out (cap bytes). With plain not NULL, a
 * raw body stays in r->blk and *plain points at it (tsn_codec_decode_inplace).
 * Returns its length or -errno.
 */
static long
load_block(struct tsn_reader *r, const struct tsn_chunk_ref *ref, int kind, uint8_t *out,
           size_t cap, const uint8_t **plain)
{
	const uint8_t *body;
	const char *why = NULL;
	long n;

	if (r->fetch_swap != NULL)
		n = r->fetch_swap(r->ud, ref->id, &r->blk, TSN_BLOCK_MAX);
	else
		n = r->fetch(r->ud, ref->id, r->blk, TSN_BLOCK_MAX);
	if (n < 0) {
		set_err(r, ref->id, "%s (%s)", n == -ENOENT ? "missing" : "fetch failed",
		        strerror((int)-n));
		return n;
	}
	if ((size_t)n > TSN_BLOCK_MAX) {
		set_err(r, ref->id, "fetch returned more than a block");
		return -EIO;
	}
	if (!r->ids_checked) {
		uint8_t id[TSN_ID_LEN];

		tsn_block_id(r->blk, (size_t)n, id);
		if (memcmp(id, ref->id, TSN_ID_LEN) != 0) {
			set_err(r, ref->id, "hash mismatch (block tampered or corrupt)");
			return -EBADMSG;
		}
	}
	n = tsn_codec_decode_inplace(r->codec, ref, kind, r->blk, (size_t)n, out, cap, &body, &why);
	if (n < 0) {
		/* Any plaintext in a too-small buffer is a bad node, not the caller's fault. */
		set_err(r, ref->id, "%s", why != NULL ? why : "bad block");
		return n == -EMSGSIZE ? -EBADMSG : n;
	}
	if (plain != NULL)
		*plain = body;
	else if (body != out && n > 0)
		memcpy(out, body, (size_t)n);
	return n;
}

/* First chunk and number of chunks under node j of level l. */
static void
node_range(const struct tsn_reader *r, unsigned l, uint64_t j, uint64_t *first, uint64_t *n)
{
	uint64_t a = j * r->span[l], b = a + r->span[l];

	if (b > r->nchunks)
		b = r->nchunks;
	*first = a;
	*n = b > a ? b - a : 0;
}

static uint32_t
expect_count(const struct tsn_reader *r, unsigned l, uint64_t j)
{
	uint64_t first, n, child = l == 0 ? 1 : r->span[l - 1];

	node_range(r, l, j, &first, &n);
	return (uint32_t)((n + child - 1) / child);
}

static uint64_t
expect_bytes(const struct tsn_reader *r, unsigned l, uint64_t j)
{
	uint64_t first, n, end;

	node_range(r, l, j, &first, &n);
	end = (first + n) * r->chunk_size;
	if (end > r->uri.size)
		end = r->uri.size;
	return n == 0 ? 0 : end - first * r->chunk_size;
}

static uint32_t
chunk_len(const struct tsn_reader *r, uint64_t k)
{
	if (k + 1 < r->nchunks)
		return r->chunk_size;
	return (uint32_t)(r->uri.size - k * r->chunk_size);
}

/* Check a parsed node against the shape of node j of level l. */
static int
check_node(struct tsn_reader *r, const uint8_t id[TSN_ID_LEN], const struct tsn_tree_node *nd,
           unsigned l, uint64_t j)
{
	uint32_t want;

	if (nd->level != l) {
		set_err(r, id, "index node of level %u where level %u belongs", nd->level, l);
		return -EBADMSG;
	}
	if (nd->chunk_size != r->chunk_size) {
		set_err(r, id, "index node chunk size %u, the file's is %u", nd->chunk_size,
		        r->chunk_size);
		return -EBADMSG;
	}
	if (nd->size != expect_bytes(r, l, j)) {
		set_err(r, id, "index node covers %llu bytes, expected %llu",
		        (unsigned long long)nd->size, (unsigned long long)expect_bytes(r, l, j));
		return -EBADMSG;
	}
	if (nd->count != (want = expect_count(r, l, j))) {
		set_err(r, id, "index node has %u entries, expected %u", nd->count, want);
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < nd->count; i++) {
		struct tsn_chunk_ref e;
		uint64_t child = j * r->fanout + i;
		tsn_tree_node_entry(nd, i, &e);
		want = l == 0 ? chunk_len(r, child)
		              : TSN_TREE_NODE_HDR + expect_count(r, l - 1, child) * TSN_TREE_NODE_ENTRY;
		if (e.len != want) {
			set_err(r, id, "index node entry %u has length %u, expected %u", i, e.len,
			        want);
			return -EBADMSG;
		}
	}
	return 0;
}

/* Load node j of level l (< depth), whose ref is ref, into lv[l]. */
static int
load_node(struct tsn_reader *r, unsigned l, uint64_t j, const struct tsn_chunk_ref *ref)
{
	struct rd_level *lv = &r->lv[l];
	const char *why = NULL;
	long n;
	int rc;

	lv->valid = false;
	n = load_block(r, ref, TSN_BLOCK_INDEX, lv->buf,
	               TSN_TREE_NODE_HDR + (size_t)r->fanout * TSN_TREE_NODE_ENTRY, NULL);
	if (n < 0)
		return (int)n;
	if (tsn_tree_node_parse(lv->buf, (size_t)n, &lv->node, &why) != 0) {
		set_err(r, ref->id, "%s", why);
		return -EBADMSG;
	}
	if ((rc = check_node(r, ref->id, &lv->node, l, j)) != 0)
		return rc;
	lv->idx = j;
	lv->valid = true;
	return 0;
}

/* Make lv[l] hold the node of level l on the path to data chunk k. */
static int
load_path(struct tsn_reader *r, uint64_t k, unsigned l)
{
	for (unsigned m = r->depth; m-- > l;) {
		uint64_t j = k / r->span[m];
		const struct rd_level *up = &r->lv[m + 1];
		struct tsn_chunk_ref ref;
		int rc;
		if (r->lv[m].valid && r->lv[m].idx == j)
			continue;
		/* The loop went top-down, so up holds node k / span[m + 1]. */
		tsn_tree_node_entry(&up->node, (uint32_t)(j - up->idx * r->fanout), &ref);
		if ((rc = load_node(r, m, j, &ref)) != 0)
			return rc;
	}
	return 0;
}

int
tsn_reader_chunk_ref(struct tsn_reader *r, uint64_t index, struct tsn_chunk_ref *out)
{
	const struct rd_level *lv = &r->lv[0];
	int rc;

	if (index >= r->nchunks)
		return -EINVAL;
	if ((rc = load_path(r, index, 0)) != 0)
		return rc;
	tsn_tree_node_entry(&lv->node, (uint32_t)(index - lv->idx * r->fanout), out);
	return 0;
}

static int
load_chunk(struct tsn_reader *r, uint64_t k)
{
	struct tsn_chunk_ref ref;
	const uint8_t *plain;
	long n;
	int rc;

	if (r->data_valid && r->data_idx == k)
		return 0;
	if ((rc = tsn_reader_chunk_ref(r, k, &ref)) != 0)
		return rc;
	r->data_valid = false;
	n = load_block(r, &ref, TSN_BLOCK_DATA, r->data, r->chunk_size, &plain);
	sodium_memzero(ref.key, sizeof(ref.key));
	if (n < 0)
		return (int)n;
	if (plain != r->data) {
		/* Stored raw: decrypted where it landed; trade the buffers. */
		uint8_t *t = r->data;

		r->data = r->blk;
		r->blk = t;
	}
	r->plain = plain;
	r->data_idx = k;
	r->data_len = (size_t)n;
	r->data_valid = true;
	return 0;
}

ssize_t
tsn_reader_pread(struct tsn_reader *r, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	size_t done = 0;
	int rc;

	if (off >= r->uri.size)
		return 0;
	if (len > r->uri.size - off)
		len = (size_t)(r->uri.size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (done < len) {
		uint64_t k = off / r->chunk_size;
		size_t in = (size_t)(off % r->chunk_size), n;
		if ((rc = load_chunk(r, k)) != 0)
			return rc;
		n = r->data_len - in;
		if (n > len - done)
			n = len - done;
		memcpy(p + done, r->plain + in, n);
		done += n;
		off += n;
	}
	return (ssize_t)done;
}

static int
walk_node(struct tsn_reader *r, unsigned l, uint64_t j,
          int (*cb)(void *ud, const struct tsn_chunk_ref *ref, int kind), void *ud)
{
	uint32_t count = r->lv[l].node.count;
	int rc;

	for (uint32_t i = 0; i < count; i++) {
		struct tsn_chunk_ref ref;
		/* lv[l] stays put: children load only into lower levels. */
		tsn_tree_node_entry(&r->lv[l].node, i, &ref);
		if (l == 0) {
			if ((rc = cb(ud, &ref, TSN_BLOCK_DATA)) != 0)
				return rc;
			continue;
		}
		if ((rc = load_node(r, l - 1, j * r->fanout + i, &ref)) != 0)
			return rc;
		if ((rc = cb(ud, &ref, TSN_BLOCK_INDEX)) != 0)
			return rc;
		if ((rc = walk_node(r, l - 1, j * r->fanout + i, cb, ud)) != 0)
			return rc;
	}
	return 0;
}

int
tsn_reader_walk(struct tsn_reader *r,
                int (*cb)(void *ud, const struct tsn_chunk_ref *ref, int kind), void *ud)
{
	struct tsn_chunk_ref root;
	int rc;

	memcpy(root.id, r->uri.id, TSN_ID_LEN);
	memcpy(root.key, r->uri.key, TSN_KEY_LEN);
	root.len = TSN_TREE_NODE_HDR + r->lv[r->depth].node.count * TSN_TREE_NODE_ENTRY;
	if ((rc = cb(ud, &root, TSN_BLOCK_INDEX)) != 0)
		return rc;
	return walk_node(r, r->depth, 0, cb, ud);
}

void
tsn_reader_free(struct tsn_reader *r)
{
	if (r == NULL)
		return;
	for (unsigned l = 0; l <= TSN_TREE_MAX_DEPTH; l++)
		free(r->lv[l].buf);
	/* Either may hold plaintext: they trade places. */
	if (r->data != NULL)
		sodium_memzero(r->data, TSN_BLOCK_MAX);
	if (r->blk != NULL)
		sodium_memzero(r->blk, TSN_BLOCK_MAX);
	free(r->data);
	free(r->blk);
	tsn_codec_free(r->codec);
	sodium_memzero(&r->uri, sizeof(r->uri));
	free(r);
}

/* Fetch the root, learn the chunk size from it, check it, size the buffers. */
static int
open_root(struct tsn_reader *r)
{
	struct tsn_chunk_ref ref;
	struct tsn_tree_node nd;
	const char *why = NULL;
	uint8_t *tmp;
	size_t nodecap;
	unsigned d;
	long n;
	int rc;

	memcpy(ref.id, r->uri.id, TSN_ID_LEN);
	memcpy(ref.key, r->uri.key, TSN_KEY_LEN);
	ref.len = 0;
	if ((tmp = malloc(TSN_CHUNK_MAX)) == NULL)
		return -ENOMEM;
	if ((n = load_block(r, &ref, TSN_BLOCK_INDEX, tmp, TSN_CHUNK_MAX, NULL)) < 0) {
		rc = (int)n;
		goto out;
	}
	rc = -EBADMSG;
	if (tsn_tree_node_parse(tmp, (size_t)n, &nd, &why) != 0) {
		set_err(r, ref.id, "%s", why);
		goto out;
	}
	d = tsn_tree_depth(r->uri.size, nd.chunk_size);
	if (d > TSN_TREE_MAX_DEPTH) {
		set_err(r, ref.id, "file too large for a tree of %u-byte chunks", nd.chunk_size);
		goto out;
	}
	r->chunk_size = nd.chunk_size;
	r->fanout = tsn_tree_fanout(nd.chunk_size);
	r->nchunks = tsn_tree_chunks(r->uri.size, nd.chunk_size);
	r->depth = d;
	r->span[0] = r->fanout;
	for (unsigned l = 1; l <= d; l++)
		r->span[l] = r->span[l - 1] * r->fanout; /* < n * F: no overflow */
	if ((rc = check_node(r, ref.id, &nd, d, 0)) != 0)
		goto out;

	rc = -ENOMEM;
	nodecap = TSN_TREE_NODE_HDR + (size_t)r->fanout * TSN_TREE_NODE_ENTRY;
	for (unsigned l = 0; l <= d; l++)
		if ((r->lv[l].buf = malloc(nodecap)) == NULL)
			goto out;
	if ((r->data = malloc(TSN_BLOCK_MAX)) == NULL)
		goto out;
	memcpy(r->lv[d].buf, tmp, (size_t)n);
	tsn_tree_node_parse(r->lv[d].buf, (size_t)n, &r->lv[d].node, NULL);
	r->lv[d].idx = 0;
	r->lv[d].valid = true;
	rc = 0;
out:
	sodium_memzero(ref.key, sizeof(ref.key));
	free(tmp);
	return rc;
}

int
tsn_reader_open_err(struct tsn_reader **out, const struct tsn_uri *uri,
                    tsn_fetch_fn fetch, void *ud, char *err, size_t errlen)
{
	struct tsn_reader *r;
	int rc;

	*out = NULL;
	if (uri->size > TSN_FILE_MAX) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "file size over the maximum");
		return -EINVAL;
	}
	rc = -ENOMEM;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto fail0;
	r->fetch = fetch;
	r->ud = ud;
	r->uri = *uri;
	snprintf(r->err, sizeof(r->err), "out of memory");
	if ((r->codec = tsn_codec_new()) == NULL || (r->blk = malloc(TSN_BLOCK_MAX)) == NULL)
		goto fail1;
	r->err[0] = '\0';
	if ((rc = open_root(r)) != 0)
		goto fail1;
	*out = r;
	return 0;

fail1:
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", r->err[0] != '\0' ? r->err : strerror(-rc));
	tsn_reader_free(r);
	return rc;
fail0:
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", strerror(-rc));
	return rc;
}

int
tsn_reader_open(struct tsn_reader **out, const struct tsn_uri *uri, tsn_fetch_fn fetch,
                void *ud)
{
	return tsn_reader_open_err(out, uri, fetch, ud, NULL, 0);
}

uint64_t
tsn_reader_size(const struct tsn_reader *r)
{
	return r->uri.size;
}

uint32_t
tsn_reader_chunk_size(const struct tsn_reader *r)
{
	return r->chunk_size;
}

const char *
tsn_reader_error(const struct tsn_reader *r)
{
	return r->err;
}

void
tsn_reader_ids_checked(struct tsn_reader *r)
{
	r->ids_checked = true;
}

void
tsn_reader_fetch_swaps(struct tsn_reader *r, tsn_fetch_swap_fn fetch_swap)
{
	r->fetch_swap = fetch_swap;
}
