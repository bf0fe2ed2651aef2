/*
 * tree_node.c: the index node format and the tree's shape (see tree.h and
 * docs/formats.md "Index node").
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "tree.h"
#include "tree_i.h"
#include "util.h"

uint32_t
tsn_tree_fanout(uint32_t chunk_size)
{
	if (chunk_size < TSN_TREE_NODE_HDR)
		return 0;
	return (chunk_size - TSN_TREE_NODE_HDR) / TSN_TREE_NODE_ENTRY;
}

uint64_t
tsn_tree_chunks(uint64_t size, uint32_t chunk_size)
{
	return size / chunk_size + (size % chunk_size != 0);
}

unsigned
tsn_tree_depth(uint64_t size, uint32_t chunk_size)
{
	uint32_t f = tsn_tree_fanout(chunk_size);
	uint64_t n, reach;
	unsigned d = 0;

	if (f < 2)
		return UINT_MAX;
	n = tsn_tree_chunks(size, chunk_size);
	/* reach = F^(d+1) chunks; once it would overflow it is past any n. */
	for (reach = f; reach < n; d++) {
		if (reach > UINT64_MAX / f) {
			d++;
			break;
		}
		reach *= f;
	}
	return d;
}

uint64_t
tsn_tree_max_size(uint32_t chunk_size)
{
	uint32_t f = tsn_tree_fanout(chunk_size);
	uint64_t reach = 1;

	if (f < 2)
		return 0;
	for (unsigned d = 0; d <= TSN_TREE_MAX_DEPTH; d++) {
		if (reach > TSN_FILE_MAX / f)
			return TSN_FILE_MAX;
		reach *= f;
	}
	if (reach > TSN_FILE_MAX / chunk_size)
		return TSN_FILE_MAX;
	return reach * chunk_size;
}

static int
fail(const char **why, const char *text)
{
	if (why != NULL)
		*why = text;
	return -EBADMSG;
}

int
tsn_tree_node_parse(const uint8_t *p, size_t len, struct tsn_tree_node *out, const char **why)
{
	struct tsn_tree_node n;

	if (len < TSN_TREE_NODE_HDR)
		return fail(why, "index node shorter than its header");
	if (p[0] != TSN_TREE_NODE_VERSION)
		return fail(why, "unknown index node version");
	n.level = p[1];
	if (p[2] != 0 || p[3] != 0)
		return fail(why, "nonzero reserved bytes in index node");
	n.chunk_size = tsn_get_be32(p + 4);
	n.size = tsn_get_be64(p + 8);
	n.count = tsn_get_be32(p + 16);
	if (n.level > TSN_TREE_MAX_DEPTH)
		return fail(why, "index node level over the maximum depth");
	if (n.chunk_size < TSN_CHUNK_MIN || n.chunk_size > TSN_CHUNK_MAX)
		return fail(why, "index node chunk size out of range");
	if (n.size > TSN_FILE_MAX)
		return fail(why, "index node size over the maximum");
	if (n.count > tsn_tree_fanout(n.chunk_size))
		return fail(why, "index node count over the fanout");
	/* count <= fanout < 2^18, so no overflow. */
	if (len != TSN_TREE_NODE_HDR + (size_t)n.count * TSN_TREE_NODE_ENTRY)
		return fail(why, "index node length does not match its count");
	n.entries = p + TSN_TREE_NODE_HDR;
	*out = n;
	return 0;
}

void
tsn_tree_node_entry(const struct tsn_tree_node *n, uint32_t i, struct tsn_chunk_ref *out)
{
	const uint8_t *e = n->entries + (size_t)i * TSN_TREE_NODE_ENTRY;

	memcpy(out->id, e, TSN_ID_LEN);
	memcpy(out->key, e + TSN_ID_LEN, TSN_KEY_LEN);
	out->len = tsn_get_be32(e + TSN_ID_LEN + TSN_KEY_LEN);
}

void
tsn_tree_node_put_header(uint8_t *p, unsigned level, uint32_t chunk_size, uint64_t size,
                    uint32_t count)
{
	p[0] = TSN_TREE_NODE_VERSION;
	p[1] = (uint8_t)level;
	p[2] = 0;
	p[3] = 0;
	tsn_put_be32(p + 4, chunk_size);
	tsn_put_be32(p + 8, (uint32_t)(size >> 32));
	tsn_put_be32(p + 12, (uint32_t)size);
	tsn_put_be32(p + 16, count);
}

void
tsn_tree_node_put_entry(uint8_t *p, const struct tsn_chunk_ref *ref)
{
	memcpy(p, ref->id, TSN_ID_LEN);
	memcpy(p + TSN_ID_LEN, ref->key, TSN_KEY_LEN);
	tsn_put_be32(p + TSN_ID_LEN + TSN_KEY_LEN, ref->len);
}
