/*
 * pins.c: how many namespace files use each URI. The store pins a file
 * once per root id (committing the same root twice does not double its
 * pins), while several names of the mount may share one content; so the
 * mount counts references itself, commits a file to the store at the first
 * and removes it at the last. Each URI the mount pinned has a 'u' record
 * (ns.c), written before the commit: after a crash, a 'u' record that no
 * node record uses is unpinned at the next load (fs_pin_reconcile).
 *
 * "External": the store had the file already (a `tsn put` of the same
 * content) when the mount first used it; the mount then never removes it.
 *
 * Locking: fs->pin_mu, held across the store's commit and remove (which
 * serialises the first and last references of every URI).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_i.h"
#include "fs_ns_i.h"
#include "util.h"

struct fs_pin {
	struct fs_pin *next;
	struct tsn_uri uri;
	uint64_t refs;
	uint8_t external; /* the store's file was not made by the mount */
	uint8_t recorded; /* a 'u' record exists */
};

static size_t
slot(const struct tsn_fs *fs, const uint8_t id[TSN_ID_LEN])
{
	uint64_t h;

	memcpy(&h, id, sizeof(h));
	return (size_t)(h & (fs->pins_cap - 1));
}

static struct fs_pin *
find(struct tsn_fs *fs, const uint8_t id[TSN_ID_LEN])
{
	struct fs_pin *p;

	if (fs->pins == NULL)
		return NULL;
	for (p = fs->pins[slot(fs, id)]; p != NULL; p = p->next)
		if (memcmp(p->uri.id, id, TSN_ID_LEN) == 0)
			return p;
	return NULL;
}

static void
grow(struct tsn_fs *fs)
{
	size_t cap = fs->pins_cap ? fs->pins_cap * 2 : 256, old = fs->pins_cap;
	struct fs_pin **t, **ot = fs->pins, *p, *next;

	if ((t = calloc(cap, sizeof(*t))) == NULL)
		return;
	fs->pins = t;
	fs->pins_cap = cap;
	for (size_t i = 0; i < old; i++)
		for (p = ot[i]; p != NULL; p = next) {
			next = p->next;
			p->next = t[slot(fs, p->uri.id)];
			t[slot(fs, p->uri.id)] = p;
		}
	free(ot);
}

/* Find or add (refs 0). NULL when out of memory. */
static struct fs_pin *
get(struct tsn_fs *fs, const struct tsn_uri *uri)
{
	struct fs_pin *p = find(fs, uri->id);

	if (p != NULL)
		return p;
	if (fs->pins_n >= fs->pins_cap)
		grow(fs);
	if (fs->pins == NULL || (p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->uri = *uri;
	p->next = fs->pins[slot(fs, uri->id)];
	fs->pins[slot(fs, uri->id)] = p;
	fs->pins_n++;
	return p;
}

static void
drop(struct tsn_fs *fs, struct fs_pin *p)
{
	struct fs_pin **pp = &fs->pins[slot(fs, p->uri.id)];

	for (; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			fs->pins_n--;
			break;
		}
	free(p);
}

static void
uri_hex(const struct tsn_uri *uri, char hex[2 * TSN_ID_LEN + 1])
{
	tsn_hex(uri->id, TSN_ID_LEN, hex);
}

/* Pin the file in the store, recording the pin first. Caller holds pin_mu. */
static int
pin(struct tsn_fs *fs, struct fs_pin *p, const char *name)
{
	struct tsn_file_info info;
	int rc;

	rc = tsn_store_file_get(fs->store, &p->uri, &info);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	p->external = rc == 0;
	if ((rc = fs_ns_pin_put(fs, &p->uri, p->external)) < 0)
		return rc;
	p->recorded = 1;
	if (p->external)
		return 0;
	memset(&info, 0, sizeof(info));
	info.uri = p->uri;
	snprintf(info.name, sizeof(info.name), "%s", name);
	if ((rc = tsn_store_file_commit(fs->store, &info)) < 0) {
		if (fs_ns_pin_delete(fs, p->uri.id) == 0)
			p->recorded = 0;
		return rc;
	}
	return 0;
}

/* Unpin (unless external) and drop the record. Caller holds pin_mu. */
static int
unpin(struct tsn_fs *fs, struct fs_pin *p)
{
	char hex[2 * TSN_ID_LEN + 1];
	int rc = 0;

	if (!p->external) {
		rc = tsn_store_file_remove(fs->store, &p->uri);
		if (rc == -ENOENT)
			rc = 0;
	}
	if (rc == 0 && p->recorded)
		rc = fs_ns_pin_delete(fs, p->uri.id);
	if (rc < 0) {
		uri_hex(&p->uri, hex);
		tsn_log(TSN_LOG_WARN, "mount: cannot unpin file %s (retried at the next mount): %s",
		        hex, strerror(-rc));
	}
	return rc;
}

int
fs_pin_ref(struct tsn_fs *fs, const struct tsn_uri *uri, const char *name)
{
	struct fs_pin *p;
	int rc = 0;

	pthread_mutex_lock(&fs->pin_mu);
	if ((p = get(fs, uri)) == NULL) {
		rc = -ENOMEM;
	} else if (p->refs == 0) {
		if ((rc = pin(fs, p, name)) < 0)
			drop(fs, p);
		else
			p->refs = 1;
	} else
		p->refs++;
	pthread_mutex_unlock(&fs->pin_mu);
	return rc;
}

void
fs_pin_unref(struct tsn_fs *fs, const struct tsn_uri *uri)
{
	struct fs_pin *p;
	char hex[2 * TSN_ID_LEN + 1];

	pthread_mutex_lock(&fs->pin_mu);
	p = find(fs, uri->id);
	if (p == NULL || p->refs == 0) {
		uri_hex(uri, hex);
		tsn_log(TSN_LOG_WARN, "mount: unpin of file %s, which is not pinned", hex);
	} else if (--p->refs == 0) {
		unpin(fs, p);
		drop(fs, p);
	}
	pthread_mutex_unlock(&fs->pin_mu);
}

int
fs_pin_load_ref(struct tsn_fs *fs, const struct tsn_uri *uri)
{
	struct fs_pin *p = get(fs, uri);

	if (p == NULL)
		return -ENOMEM;
	p->refs++;
	return 0;
}

int
fs_pin_load_record(struct tsn_fs *fs, const struct tsn_uri *uri, int external)
{
	struct fs_pin *p = get(fs, uri);

	if (p == NULL)
		return -ENOMEM;
	p->recorded = 1;
	p->external = (uint8_t)external;
	return 0;
}

void
fs_pin_reconcile(struct tsn_fs *fs)
{
	struct tsn_file_info info;
	struct fs_pin *p, *next;
	char hex[2 * TSN_ID_LEN + 1];
	int rc;

	pthread_mutex_lock(&fs->pin_mu);
	for (size_t i = 0; i < fs->pins_cap; i++)
		for (p = fs->pins[i]; p != NULL; p = next) {
			next = p->next;
			if (p->refs == 0) {
				/* Left by a crash between a pin and its use, or after
				 * the last use and before the unpin. */
				if (unpin(fs, p) == 0)
					drop(fs, p);
				continue;
			}
			rc = tsn_store_file_get(fs->store, &p->uri, &info);
			if (rc == 0 && !p->recorded) {
				p->external = 1;
				if (fs_ns_pin_put(fs, &p->uri, 1) == 0)
					p->recorded = 1;
			} else if (rc == -ENOENT) {
				/* Unpinned behind the mount's back (tsn rm): pin again. */
				uri_hex(&p->uri, hex);
				if ((rc = pin(fs, p, "mount")) < 0)
					tsn_log(TSN_LOG_ERROR, "mount: file %s of the namespace "
					        "cannot be pinned: %s", hex, rc == -ENOENT ?
					        "some of its chunks are missing" : strerror(-rc));
				else
					tsn_log(TSN_LOG_WARN, "mount: file %s was unpinned outside "
					        "the mount: pinned again", hex);
			}
		}
	pthread_mutex_unlock(&fs->pin_mu);
}

size_t
fs_pin_files(struct tsn_fs *fs)
{
	size_t n;

	pthread_mutex_lock(&fs->pin_mu);
	n = fs->pins_n;
	pthread_mutex_unlock(&fs->pin_mu);
	return n;
}

void
fs_pin_fini(struct tsn_fs *fs)
{
	struct fs_pin *p, *next;

	for (size_t i = 0; i < fs->pins_cap; i++)
		for (p = fs->pins[i]; p != NULL; p = next) {
			next = p->next;
			free(p);
		}
	free(fs->pins);
	fs->pins = NULL;
	fs->pins_cap = fs->pins_n = 0;
}
