/*
 * uri_dir.c: uri/<tsn-uri>. A lookup parses the name with the strict URI
 * parser (anything else: ENOENT) and makes a read-only file node whose size
 * comes from the URI, without fetching anything. The node lives in the
 * directory table under uri/ while the kernel holds lookups on it or it is
 * open, so repeated lookups of one URI share it; it is never listed.
 */
#include <errno.h>
#include <string.h>

#include "fs_i.h"
#include "util.h"

int
fs_uri_lookup_locked(struct tsn_fs *fs, struct fs_node *dir, const char *name,
                     struct fs_node **out)
{
	struct fs_node *n;
	struct tsn_uri uri;
	const char *why = NULL;
	int rc;

	if ((n = fs_dir_find(fs, dir, name)) != NULL) {
		*out = n;
		return 0;
	}
	if (tsn_uri_parse(name, strlen(name), &uri, &why) != 0) {
		tsn_log(TSN_LOG_DEBUG, "mount: uri/%.40s: not a URI: %s", name, why ? why : "?");
		return -ENOENT;
	}
	if ((n = fs_node_new(FS_URI, fs->next_dyn, name)) == NULL)
		return -ENOMEM;
	n->uri = uri;
	n->has_uri = 1;
	n->size = uri.size;
	if ((rc = fs_dir_link(fs, dir, n, name)) < 0) {
		fs_node_free(n);
		return rc;
	}
	fs->next_dyn++;
	fs_node_insert(fs, n);
	*out = n;
	return 0;
}
