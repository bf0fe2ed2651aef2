/* fuzz_node.c: the index node parser, and the entries of what it accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tsn_tree_node n;
	struct tsn_chunk_ref ref;
	const char *why = NULL;
	uint64_t total = 0;
	uint8_t *copy;

	/* An exact-size copy, so ASan sees any read past the end. */
	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	if (tsn_tree_node_parse(copy, size, &n, &why) != 0) {
		if (why == NULL)
			abort();
		free(copy);
		return 0;
	}
	if (n.count > tsn_tree_fanout(n.chunk_size) || n.level > TSN_TREE_MAX_DEPTH ||
	    n.entries + (size_t)n.count * TSN_TREE_NODE_ENTRY != copy + size)
		abort();
	for (uint32_t i = 0; i < n.count; i++) {
		tsn_tree_node_entry(&n, i, &ref);
		total += ref.len;
	}
	/* The shape functions take whatever a node says. */
	(void)tsn_tree_depth(n.size, n.chunk_size);
	(void)tsn_tree_depth(total, n.chunk_size);
	free(copy);
	return 0;
}
