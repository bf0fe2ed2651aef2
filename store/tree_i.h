/*
 * tree_i.h: helpers shared by the tree's files (tree_node.c, tree_enc.c,
 * tree_read.c). Not for other modules.
 */
#ifndef TSN_TREE_I_H
#define TSN_TREE_I_H

#include <stdint.h>

#include "tree.h"

/* Data chunks of a file: ceil(size / chunk_size); chunk_size > 0. */
uint64_t tsn_tree_chunks(uint64_t size, uint32_t chunk_size);
/*
 * Largest file a tree of chunk_size can hold: F^(TSN_TREE_MAX_DEPTH + 1)
 * chunks, at most TSN_FILE_MAX bytes. 0 for a chunk size without fanout.
 */
uint64_t tsn_tree_max_size(uint32_t chunk_size);
/* Write a node header (TSN_TREE_NODE_HDR bytes) at p. */
void tsn_tree_node_put_header(uint8_t *p, unsigned level, uint32_t chunk_size, uint64_t size,
                         uint32_t count);
/* Write one entry (TSN_TREE_NODE_ENTRY bytes) at p. */
void tsn_tree_node_put_entry(uint8_t *p, const struct tsn_chunk_ref *ref);

#endif
