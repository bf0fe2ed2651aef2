/*
 * inode.c: the inode table (ino -> node), the directory table
 * ((parent, name) -> node) with each directory's list of children, and
 * node lifetime (nlookup, nopen, linked). Callers hold fs->mu, except for
 * fs_node_destroy and fs_node_free.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs_i.h"

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

static uint64_t
name_hash(uint64_t parent, const char *name)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325) ^ mix64(parent);

	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		h ^= *p;
		h *= UINT64_C(0x100000001b3);
	}
	return mix64(h);
}

int
fs_table_init(struct tsn_fs *fs)
{
	fs->tab_cap = 1024;
	fs->dtab_cap = 1024;
	fs->tab = calloc(fs->tab_cap, sizeof(*fs->tab));
	fs->dtab = calloc(fs->dtab_cap, sizeof(*fs->dtab));
	if (fs->tab == NULL || fs->dtab == NULL) {
		free(fs->tab);
		free(fs->dtab);
		fs->tab = fs->dtab = NULL;
		return -ENOMEM;
	}
	return 0;
}

void
fs_table_fini(struct tsn_fs *fs)
{
	struct fs_node *n, *next;

	if (fs->tab == NULL)
		return;
	for (size_t i = 0; i < fs->tab_cap; i++)
		for (n = fs->tab[i]; n != NULL; n = next) {
			next = n->tnext;
			fs_node_free(n);
		}
	free(fs->tab);
	free(fs->dtab);
	fs->tab = fs->dtab = NULL;
}

struct fs_node *
fs_node_new(int kind, uint64_t ino, const char *name)
{
	struct fs_node *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return NULL;
	n->kind = (uint8_t)kind;
	n->ino = ino;
	if (name != NULL && (n->name = strdup(name)) == NULL)
		goto fail;
	if (kind == FS_FILE && (n->c = fs_content_new()) == NULL)
		goto fail;
	return n;
fail:
	free(n->name);
	free(n);
	return NULL;
}

void
fs_node_free(struct fs_node *n)
{
	if (n == NULL)
		return;
	fs_content_free(n->c);
	free(n->keywords);
	free(n->name);
	free(n);
}

struct fs_node *
fs_node_get(struct tsn_fs *fs, uint64_t ino)
{
	struct fs_node *n;

	for (n = fs->tab[mix64(ino) & (fs->tab_cap - 1)]; n != NULL; n = n->tnext)
		if (n->ino == ino)
			return n;
	return NULL;
}

/* Double a table of chains; rehash with the key function. Failure is harmless. */
static void
grow(struct fs_node ***tabp, size_t *capp, int dir)
{
	size_t cap = *capp * 2;
	struct fs_node **t, *n, *next;
	uint64_t h;

	if (cap > SIZE_MAX / sizeof(*t) || (t = calloc(cap, sizeof(*t))) == NULL)
		return;
	for (size_t i = 0; i < *capp; i++)
		for (n = (*tabp)[i]; n != NULL; n = next) {
			if (dir) {
				next = n->dnext;
				h = name_hash(n->parent->ino, n->name) & (cap - 1);
				n->dnext = t[h];
			} else {
				next = n->tnext;
				h = mix64(n->ino) & (cap - 1);
				n->tnext = t[h];
			}
			t[h] = n;
		}
	free(*tabp);
	*tabp = t;
	*capp = cap;
}

int
fs_node_insert(struct tsn_fs *fs, struct fs_node *n)
{
	size_t h;

	if (fs->tab_n >= fs->tab_cap)
		grow(&fs->tab, &fs->tab_cap, 0);
	h = mix64(n->ino) & (fs->tab_cap - 1);
	n->tnext = fs->tab[h];
	fs->tab[h] = n;
	fs->tab_n++;
	return 0;
}

static void
table_remove(struct tsn_fs *fs, struct fs_node *n)
{
	struct fs_node **pp = &fs->tab[mix64(n->ino) & (fs->tab_cap - 1)];

	for (; *pp != NULL; pp = &(*pp)->tnext)
		if (*pp == n) {
			*pp = n->tnext;
			fs->tab_n--;
			return;
		}
}

struct fs_node *
fs_dir_find(struct tsn_fs *fs, const struct fs_node *dir, const char *name)
{
	struct fs_node *n;

	for (n = fs->dtab[name_hash(dir->ino, name) & (fs->dtab_cap - 1)]; n != NULL; n = n->dnext)
		if (n->parent == dir && strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

int
fs_dir_link(struct tsn_fs *fs, struct fs_node *dir, struct fs_node *n, const char *name)
{
	size_t h;
	char *copy;

	if (n->name == NULL || strcmp(n->name, name) != 0) {
		if ((copy = strdup(name)) == NULL)
			return -ENOMEM;
		free(n->name);
		n->name = copy;
	}
	if (fs->dtab_n >= fs->dtab_cap)
		grow(&fs->dtab, &fs->dtab_cap, 1);
	n->parent = dir;
	h = name_hash(dir->ino, n->name) & (fs->dtab_cap - 1);
	n->dnext = fs->dtab[h];
	fs->dtab[h] = n;
	fs->dtab_n++;
	n->sprev = NULL;
	n->snext = dir->child;
	if (dir->child != NULL)
		dir->child->sprev = n;
	dir->child = n;
	dir->nchildren++;
	if (n->kind == FS_DIR || n->kind == FS_SDIR)
		dir->nsubdirs++;
	n->linked = 1;
	return 0;
}

void
fs_dir_unlink(struct tsn_fs *fs, struct fs_node *n)
{
	struct fs_node *dir = n->parent, **pp;

	if (dir == NULL)
		return;
	pp = &fs->dtab[name_hash(dir->ino, n->name) & (fs->dtab_cap - 1)];
	for (; *pp != NULL; pp = &(*pp)->dnext)
		if (*pp == n) {
			*pp = n->dnext;
			fs->dtab_n--;
			break;
		}
	if (n->sprev != NULL)
		n->sprev->snext = n->snext;
	else
		dir->child = n->snext;
	if (n->snext != NULL)
		n->snext->sprev = n->sprev;
	n->snext = n->sprev = n->dnext = NULL;
	dir->nchildren--;
	if (n->kind == FS_DIR || n->kind == FS_SDIR)
		dir->nsubdirs--;
	n->parent = NULL;
	n->linked = 0;
}

int
fs_dir_within(const struct fs_node *a, const struct fs_node *b)
{
	for (; a != NULL; a = a->parent)
		if (a == b)
			return 1;
	return 0;
}

int
fs_node_put(struct tsn_fs *fs, struct fs_node *n, uint64_t nlookup, uint32_t nopen)
{
	n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
	n->nopen = n->nopen > nopen ? n->nopen - nopen : 0;
	if (n->nlookup > 0 || n->nopen > 0)
		return 0;
	/* Fixed nodes and linked namespace nodes stay; uri/ entries go when
	 * the kernel and the handles are done with them. */
	if ((n->kind == FS_SDIR && n->ino < FS_SYNTH_DYN) || n->kind == FS_INFO ||
	    n->ino == FS_ROOT_ID)
		return 0;
	if (n->kind == FS_URI && !(n->result && n->linked))
		fs_dir_unlink(fs, n);
	else if (n->linked)
		return 0; /* namespace nodes, search folders and results while kept */
	table_remove(fs, n);
	return 1;
}

void
fs_node_destroy(struct tsn_fs *fs, struct fs_node *n)
{
	if (n == NULL)
		return;
	if (n->kind == FS_FILE && n->has_uri)
		fs_pin_unref(fs, &n->uri);
	fs_node_free(n);
}
