/*
 * search.c: search/<words>/ folders, and keyword publishing of your files.
 *
 * The first lookup of search/<words> makes a read-only folder and starts
 * the search (net/search.h) on a thread of its own, which adds each result
 * as a read-only uri/-like file as it arrives (for up to FS_SEARCH_RUN_MS);
 * the lookup waits for it at most FS_SEARCH_WAIT_MS, so the first listing
 * usually has everything, and later listings show what came since. Result
 * names come from the network: tsn_kw_entry_open checked them (non-empty,
 * no '/', no NUL, not "." or ".."). One file per (content, name); another
 * content under a name already listed gets ".<8 hex of its root id>"
 * before the extension. A folder looked up again once its run has ended,
 * SEARCH_RERUN_MS or more after that run started, runs the search again
 * (and the lookup waits for it as the first did), so results published
 * since appear: one run per folder at a time, at most one start per
 * SEARCH_RERUN_MS. Results found earlier stay listed. rmdir forgets a
 * search; at most FS_SEARCHES_MAX are kept, the oldest forgotten first.
 * Everything here runs under fs->mu except the search itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_i.h"
#include "keyword.h"
#include "publish.h"
#include "search.h"
#include "util.h"

/* A folder's search runs again when looked up this long after its last start. */
#define SEARCH_RERUN_MS FS_SEARCH_RUN_MS

struct fs_search {
	struct fs_search *next;   /* fs->searches, oldest first */
	struct tsn_fs *fs;
	struct fs_node *dir;      /* NULL once forgotten */
	char *query;
	int refs;                 /* the list, the thread, waiters */
	int done;                 /* the run ended */
	uint64_t started_ms;      /* the last run's start (CLOCK_MONOTONIC) */
	size_t nresults;
};

static void
search_unref_locked(struct fs_search *s)
{
	if (--s->refs > 0)
		return;
	free(s->query);
	free(s);
}

/* Under fs->mu: a result file under s->dir for e, unless it is there already. */
static void
add_result_locked(struct tsn_fs *fs, struct fs_search *s, const struct tsn_kw_entry *e)
{
	char name[FS_NAME_MAX + 1], hex[2 * TSN_ID_LEN + 1];
	struct fs_node *old, *n;

	if (s->nresults >= TSN_SEARCH_HITS_MAX)
		return;
	snprintf(name, sizeof(name), "%s", e->name);
	old = fs_dir_find(fs, s->dir, name);
	if (old != NULL) {
		const char *dot = strrchr(e->name, '.');
		size_t stem, extlen;
		if (memcmp(old->uri.id, e->uri.id, TSN_ID_LEN) == 0)
			return;
		tsn_hex(e->uri.id, 4, hex);
		if (dot == NULL || dot == e->name)
			dot = e->name + strlen(e->name);
		extlen = strlen(dot);
		stem = (size_t)(dot - e->name);
		if (extlen > 64)
			return;
		if (stem > FS_NAME_MAX - 9 - extlen)
			stem = FS_NAME_MAX - 9 - extlen;
		snprintf(name, sizeof(name), "%.*s.%s%s", (int)stem, e->name, hex, dot);
		if (fs_dir_find(fs, s->dir, name) != NULL)
			return;
	}
	if ((n = fs_node_new(FS_URI, fs->next_dyn, name)) == NULL)
		return;
	n->uri = e->uri;
	n->has_uri = 1;
	n->size = e->uri.size;
	n->result = 1;
	if (fs_dir_link(fs, s->dir, n, name) < 0) {
		fs_node_free(n);
		return;
	}
	fs->next_dyn++;
	fs_node_insert(fs, n);
	s->nresults++;
}

static int
on_result(void *ud, const struct tsn_kw_entry *e)
{
	struct fs_search *s = ud;
	struct tsn_fs *fs = s->fs;
	int stop;

	pthread_mutex_lock(&fs->mu);
	stop = s->dir == NULL || fs->search_stop;
	if (!stop && e != NULL)
		add_result_locked(fs, s, e);
	pthread_mutex_unlock(&fs->mu);
	return stop;
}

static void *
search_main(void *arg)
{
	struct fs_search *s = arg;
	struct tsn_fs *fs = s->fs;
	long n = tsn_search_run(fs->node, s->query, strlen(s->query), FS_SEARCH_RUN_MS, on_result, s);

	tsn_log(TSN_LOG_DEBUG, "mount: search '%s': %ld results", s->query, n);
	pthread_mutex_lock(&fs->mu);
	s->done = 1;
	fs->search_threads--;
	pthread_cond_broadcast(&fs->search_cv);
	search_unref_locked(s);
	pthread_mutex_unlock(&fs->mu);
	return NULL;
}

/* Under fs->mu: forget s (unlist its folder and results; free what nothing uses). */
static void
forget_locked(struct tsn_fs *fs, struct fs_search *s)
{
	struct fs_search **pp;
	struct fs_node *d = s->dir, *c;

	for (pp = &fs->searches; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			fs->nsearches--;
			break;
		}
	s->dir = NULL;
	while (d != NULL && (c = d->child) != NULL) {
		fs_dir_unlink(fs, c);
		if (fs_node_put(fs, c, 0, 0))
			fs_node_free(c); /* a result holds no pin */
	}
	if (d != NULL) {
		fs_dir_unlink(fs, d);
		if (fs_node_put(fs, d, 0, 0))
			fs_node_free(d);
	}
	search_unref_locked(s);
}

/*
 * Under fs->mu: run s's search (again) on a thread of its own. Returns 1
 * when it started (s then holds a reference for the caller's
 * fs_search_wait), 0 when it could not (s stays done).
 */
static int
run_locked(struct tsn_fs *fs, struct fs_search *s)
{
	pthread_t t;

	s->done = 0;
	s->started_ms = tsn_mono_ms();
	s->refs++;
	if (pthread_create(&t, NULL, search_main, s) != 0) {
		s->refs--;
		s->done = 1;
		tsn_log(TSN_LOG_WARN, "mount: search '%s': cannot start a thread", s->query);
		return 0;
	}
	pthread_detach(t);
	fs->search_threads++;
	s->refs++; /* the waiter's */
	return 1;
}

/* Under fs->mu: search folder n looked up again; run it again when due. */
static void
rerun_locked(struct tsn_fs *fs, struct fs_node *n, struct fs_search **wait)
{
	struct fs_search *s;

	for (s = fs->searches; s != NULL && s->dir != n; s = s->next)
		;
	if (s == NULL || !s->done || fs->node == NULL || fs->search_stop ||
	    tsn_mono_ms() - s->started_ms < SEARCH_RERUN_MS)
		return;
	tsn_log(TSN_LOG_DEBUG, "mount: search '%s': looked at again, run again", s->query);
	if (run_locked(fs, s))
		*wait = s;
}

int
fs_search_lookup_locked(struct tsn_fs *fs, struct fs_node *dir, const char *name,
                        struct fs_node **out, struct fs_search **wait)
{
	struct tsn_keywords kw = {0};
	struct fs_search *s, **tail;
	struct fs_node *n;
	int rc;

	*wait = NULL;
	if ((n = fs_dir_find(fs, dir, name)) != NULL) {
		*out = n;
		rerun_locked(fs, n, wait);
		return 0;
	}
	if ((rc = fs_check_name(name)) < 0)
		return rc;
	if (tsn_keywords_add(&kw, name, strlen(name)) == 0)
		return -ENOENT; /* no word to search for */
	if (fs->search_stop)
		return -ESHUTDOWN;
	if (fs->nsearches >= FS_SEARCHES_MAX)
		forget_locked(fs, fs->searches);
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->query = strdup(name)) == NULL) {
		free(s);
		return -ENOMEM;
	}
	if ((n = fs_node_new(FS_SDIR, fs->next_dyn, name)) == NULL) {
		free(s->query);
		free(s);
		return -ENOMEM;
	}
	if ((rc = fs_dir_link(fs, dir, n, name)) < 0) {
		fs_node_free(n);
		free(s->query);
		free(s);
		return rc;
	}
	fs->next_dyn++;
	fs_node_insert(fs, n);
	s->fs = fs;
	s->dir = n;
	s->refs = 1;
	for (tail = &fs->searches; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = s;
	fs->nsearches++;
	*out = n;
	if (fs->node == NULL) {
		s->done = 1; /* no network: an empty folder */
		return 0;
	}
	if (run_locked(fs, s))
		*wait = s;
	return 0;
}

void
fs_search_wait(struct tsn_fs *fs, struct fs_search *s)
{
	struct timespec now, until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += FS_SEARCH_WAIT_MS / 1000;
	until.tv_nsec += (long)(FS_SEARCH_WAIT_MS % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&fs->mu);
	while (!s->done && s->dir != NULL) {
		if (pthread_cond_timedwait(&fs->search_cv, &fs->mu, &until) != 0) {
			clock_gettime(CLOCK_REALTIME, &now);
			if (now.tv_sec > until.tv_sec ||
			    (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec))
				break;
		}
	}
	search_unref_locked(s);
	pthread_mutex_unlock(&fs->mu);
}

int
fs_search_forget_locked(struct tsn_fs *fs, struct fs_node *dir, const char *name)
{
	struct fs_node *n = fs_dir_find(fs, dir, name);

	if (n == NULL)
		return -ENOENT;
	for (struct fs_search *s = fs->searches; s != NULL; s = s->next)
		if (s->dir == n) {
			forget_locked(fs, s);
			return 0;
		}
	return -ENOENT;
}

void
fs_search_quiesce(struct tsn_fs *fs)
{
	pthread_mutex_lock(&fs->mu);
	fs->search_stop = 1;
	while (fs->search_threads > 0)
		pthread_cond_wait(&fs->search_cv, &fs->mu);
	pthread_mutex_unlock(&fs->mu);
}

void
fs_search_fini(struct tsn_fs *fs)
{
	/* After quiesce: no thread runs; the nodes go with the table. */
	while (fs->searches != NULL) {
		struct fs_search *s = fs->searches;
		fs->searches = s->next;
		s->dir = NULL;
		search_unref_locked(s);
	}
	fs->nsearches = 0;
}

void
fs_publish(struct tsn_fs *fs, struct fs_node *n, const struct tsn_uri *uri, const char *name)
{
	char *kw = NULL;
	size_t klen = 0;
	int rc;

	if (fs->publisher == NULL)
		return;
	pthread_mutex_lock(&fs->mu);
	if (n->keywords != NULL && n->klen > 0 && (kw = malloc(n->klen)) != NULL) {
		memcpy(kw, n->keywords, n->klen);
		klen = n->klen;
	}
	pthread_mutex_unlock(&fs->mu);
	if ((rc = tsn_publisher_share(fs->publisher, uri, name, kw, klen)) < 0)
		tsn_log(TSN_LOG_INFO, "mount: '%s': no keyword published: %s", name, strerror(-rc));
	free(kw);
}

void
fs_withdraw(struct tsn_fs *fs, const struct tsn_uri *uri, const char *name)
{
	if (fs->publisher != NULL)
		tsn_publisher_withdraw(fs->publisher, uri, name);
}
