/*
 * store.c: opening and closing a data dir: the lock file, the index, the
 * session counter, and the stats, which are counted afresh from the chunk
 * entries at every open (so they are right after any crash).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "store_i.h"
#include "util.h"

#define INDEX_CACHE_BYTES (8u << 20) /* leveldb block cache */
#define META_SESSION "msession"      /* 'm' + "session" -> be32 counter */

static void __attribute__((format(printf, 3, 4)))
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Take DATADIR/lock and write our pid into it. */
static int
take_lock(struct tsn_store *s, char *err, size_t errlen)
{
	char buf[32];
	ssize_t n;
	long pid;
	int rc;

	s->lockfd = openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lockfd < 0) {
		rc = -errno;
		seterr(err, errlen, "data dir %s: cannot open lock file: %s", s->path, strerror(-rc));
		return rc;
	}
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
		rc = -errno;
		if (rc != -EWOULDBLOCK) {
			seterr(err, errlen, "data dir %s: cannot lock: %s", s->path, strerror(-rc));
			return rc;
		}
		n = pread(s->lockfd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		pid = strtol(buf, NULL, 10);
		if (pid > 0)
			seterr(err, errlen, "data dir %s is in use by another process (pid %ld)",
			       s->path, pid);
		else
			seterr(err, errlen, "data dir %s is in use by another process", s->path);
		return -EBUSY;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(s->lockfd, 0) != 0 || pwrite(s->lockfd, buf, (size_t)n, 0) != n) {
		rc = -errno;
		seterr(err, errlen, "data dir %s: cannot write lock file: %s", s->path,
		       strerror(-rc));
		return rc;
	}
	return 0;
}

/*
 * Bodies of the first layout, chunks/ab/cd/<hex>, move to chunks/ab/<hex>
 * (a rename each, so a crash half-way leaves every body in one place or the
 * other; the next open goes on), then chunks/.flat marks the store done.
 * Returns the bodies moved, or -errno with err set (nothing lost: the
 * store is not opened and the bodies stay where they are).
 */
static long
migrate_layout(struct tsn_store *s, char *err, size_t errlen)
{
	char ab[3], rel[6];
	long moved = 0;
	int abfd, cdfd, fd;
	struct dirent *de, *fe;
	DIR *d, *cd;

	if (faccessat(s->chunksfd, ".flat", F_OK, 0) == 0)
		return 0;
	for (unsigned i = 0; i < 256; i++) {
		snprintf(ab, sizeof(ab), "%02x", i);
		if ((abfd = openat(s->chunksfd, ab, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			continue; /* made below */
		if ((d = fdopendir(abfd)) == NULL) {
			close(abfd);
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			if (!tsn_store__is_hex(de->d_name, 2))
				continue;
			snprintf(rel, sizeof(rel), "%s/%s", ab, de->d_name);
			if ((cdfd = openat(abfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
			    (cd = fdopendir(cdfd)) == NULL) {
				if (cdfd >= 0)
					close(cdfd);
				continue;
			}
			while ((fe = readdir(cd)) != NULL) {
				if (!tsn_store__is_hex(fe->d_name, 2 * TSN_ID_LEN))
					continue;
				if (renameat(cdfd, fe->d_name, abfd, fe->d_name) != 0) {
					int rc = -errno;
					seterr(err, errlen, "data dir %s: cannot move chunks/%s/%s up to "
					       "chunks/%s/ (new layout): %s", s->path, rel, fe->d_name, ab,
					       strerror(-rc));
					closedir(cd);
					closedir(d);
					return rc;
				}
				moved++;
			}
			closedir(cd);
			if (unlinkat(abfd, de->d_name, AT_REMOVEDIR) != 0)
				tsn_log(TSN_LOG_WARN, "store %s: cannot remove chunks/%s: %s", s->path,
				        rel, strerror(errno));
		}
		closedir(d);
	}
	if ((fd = openat(s->chunksfd, ".flat", O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		int rc = -errno;
		seterr(err, errlen, "data dir %s: cannot create chunks/.flat: %s", s->path,
		       strerror(-rc));
		return rc;
	}
	close(fd);
	if (moved > 0)
		tsn_log(TSN_LOG_INFO, "store %s: %ld chunk bodies moved to the one-level layout "
		        "(chunks/ab/<id>)", s->path, moved);
	return moved;
}

static int
make_dirs(struct tsn_store *s, char *err, size_t errlen)
{
	char ab[3];
	long moved;
	int rc;

	if (mkdirat(s->dirfd, "chunks", 0700) != 0 && errno != EEXIST)
		goto fail;
	s->chunksfd = openat(s->dirfd, "chunks", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->chunksfd < 0)
		goto fail;
	if (mkdirat(s->chunksfd, "tmp", 0700) != 0 && errno != EEXIST)
		goto fail;
	if ((moved = migrate_layout(s, err, errlen)) < 0)
		return (int)moved;
	/* The shard directories, once: a mkdir per new chunk cost as much as
	 * the chunk's own file (an inode each). */
	for (unsigned i = 0; i < 256; i++) {
		snprintf(ab, sizeof(ab), "%02x", i);
		if (mkdirat(s->chunksfd, ab, 0700) != 0 && errno != EEXIST)
			goto fail;
	}
	return 0;

fail:
	rc = -errno;
	seterr(err, errlen, "data dir %s: cannot create chunks/: %s", s->path, strerror(-rc));
	return rc;
}

static int
open_index(struct tsn_store *s, char *err, size_t errlen)
{
	char *path, *dberr = NULL;
	size_t n = strlen(s->path) + sizeof("/index");

	if ((path = malloc(n)) == NULL) {
		seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(path, n, "%s/index", s->path);
	s->dbopts = leveldb_options_create();
	leveldb_options_set_create_if_missing(s->dbopts, 1);
	s->dbcache = leveldb_cache_create_lru(INDEX_CACHE_BYTES);
	leveldb_options_set_cache(s->dbopts, s->dbcache);
	s->ropts = leveldb_readoptions_create();
	s->wopts = leveldb_writeoptions_create();
	s->wopts_sync = leveldb_writeoptions_create();
	leveldb_writeoptions_set_sync(s->wopts_sync, 1);
	s->db = leveldb_open(s->dbopts, path, &dberr);
	free(path);
	if (dberr != NULL) {
		seterr(err, errlen, "data dir %s: cannot open index: %s", s->path, dberr);
		tsn_log(TSN_LOG_ERROR, "store %s: open index: %s", s->path, dberr);
		leveldb_free(dberr);
		s->db = NULL;
		return -EIO;
	}
	return 0;
}

/* Count this open as a new session, so pending chunks of earlier ones are told apart. */
static int
next_session(struct tsn_store *s, char *err, size_t errlen)
{
	char *v, *dberr = NULL;
	uint8_t b[4];
	size_t vlen = 0;
	uint32_t cur = 0;

	v = leveldb_get(s->db, s->ropts, META_SESSION, strlen(META_SESSION), &vlen, &dberr);
	if (dberr != NULL)
		goto dbfail;
	if (v != NULL && vlen != 4) {
		leveldb_free(v);
		seterr(err, errlen, "data dir %s: index meta 'session' is malformed", s->path);
		return -EIO;
	}
	if (v != NULL) {
		cur = (uint32_t)(uint8_t)v[0] << 24 | (uint32_t)(uint8_t)v[1] << 16 |
		      (uint32_t)(uint8_t)v[2] << 8 | (uint8_t)v[3];
		leveldb_free(v);
	}
	s->session = cur == UINT32_MAX ? 1 : cur + 1;
	b[0] = (uint8_t)(s->session >> 24);
	b[1] = (uint8_t)(s->session >> 16);
	b[2] = (uint8_t)(s->session >> 8);
	b[3] = (uint8_t)s->session;
	leveldb_put(s->db, s->wopts_sync, META_SESSION, strlen(META_SESSION), (const char *)b, 4,
	            &dberr);
	if (dberr != NULL)
		goto dbfail;
	return 0;

dbfail:
	seterr(err, errlen, "data dir %s: index: %s", s->path, dberr);
	return tsn_store__dberr(s, "session counter", dberr);
}

/* Count chunks and bytes by role, files, and the highest access seq. */
static int
scan(struct tsn_store *s, char *err, size_t errlen)
{
	leveldb_iterator_t *it;
	struct tsn_store__entry e;
	struct tsn_file_info f;
	const uint8_t *k, *v;
	size_t klen, vlen;
	char first = TSN_STORE__K_CHUNK, hex[TSN_STORE__HEX_LEN], *dberr = NULL;
	int r;

	it = leveldb_create_iterator(s->db, s->ropts);
	for (leveldb_iter_seek(it, &first, 1); leveldb_iter_valid(it); leveldb_iter_next(it)) {
		k = (const uint8_t *)leveldb_iter_key(it, &klen);
		v = (const uint8_t *)leveldb_iter_value(it, &vlen);
		if (klen < 1 || k[0] > TSN_STORE__K_FILE)
			break;
		if (k[0] != TSN_STORE__K_CHUNK && k[0] != TSN_STORE__K_FILE)
			continue; /* 'd', 'e': not used */
		if (k[0] == TSN_STORE__K_FILE) {
			if (klen == TSN_STORE__FKEY_LEN && tsn_store__file_parse(k + 1, v, vlen, &f) == 0)
				s->st.files++;
			else
				tsn_log(TSN_LOG_WARN, "store %s: unreadable file record", s->path);
			continue;
		}
		if (klen != TSN_STORE__CKEY_LEN || tsn_store__entry_parse(v, vlen, &e) < 0) {
			if (klen == TSN_STORE__CKEY_LEN)
				tsn_hex(k + 1, TSN_ID_LEN, hex);
			else
				snprintf(hex, sizeof(hex), "(key of %zu bytes)", klen);
			tsn_log(TSN_LOG_WARN, "store %s: chunk %s: unreadable index entry, ignored",
			        s->path, hex);
			continue;
		}
		r = tsn_store__role(&e);
		s->st.chunks[r]++;
		s->st.bytes[r] += e.len;
		if (e.seq > s->seq)
			s->seq = e.seq;
	}
	leveldb_iter_get_error(it, &dberr);
	leveldb_iter_destroy(it);
	if (dberr != NULL) {
		seterr(err, errlen, "data dir %s: index: %s", s->path, dberr);
		return tsn_store__dberr(s, "scan index", dberr);
	}
	return 0;
}

int
tsn_store_open(struct tsn_store **out, const char *datadir,
               const struct tsn_store_opts *opts, char *err, size_t errlen)
{
	struct tsn_store *s;
	int rc;

	*out = NULL;
	seterr(err, errlen, "%s", "");
	if (sodium_init() < 0) {
		seterr(err, errlen, "libsodium failed to initialise");
		return -EIO;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto nomem;
	s->dirfd = s->chunksfd = s->lockfd = -1;
	atomic_init(&s->tmpseq, 0);
	atomic_init(&s->dio, 1);
	if ((rc = -pthread_mutex_init(&s->mu, NULL)) < 0) {
		free(s);
		seterr(err, errlen, "cannot create a mutex: %s", strerror(-rc));
		return rc;
	}
	if ((s->path = strdup(datadir)) == NULL) {
		tsn_store_close(s);
		goto nomem;
	}
	s->st.quota = opts != NULL && opts->quota != 0 ? opts->quota : TSN_STORE_QUOTA_DEFAULT;

	if (mkdir(datadir, 0700) != 0 && errno != EEXIST) {
		rc = -errno;
		seterr(err, errlen, "cannot create data dir %s: %s", datadir, strerror(-rc));
		goto fail;
	}
	s->dirfd = open(datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		rc = -errno;
		seterr(err, errlen, "cannot open data dir %s: %s", datadir, strerror(-rc));
		goto fail;
	}
	if ((rc = take_lock(s, err, errlen)) < 0)
		goto fail;
	if ((rc = make_dirs(s, err, errlen)) < 0)
		goto fail;
	if ((rc = open_index(s, err, errlen)) < 0)
		goto fail;
	if ((rc = next_session(s, err, errlen)) < 0)
		goto fail;
	if ((rc = scan(s, err, errlen)) < 0)
		goto fail;
	*out = s;
	return 0;

fail:
	tsn_store_close(s);
	return rc;
nomem:
	seterr(err, errlen, "out of memory");
	return -ENOMEM;
}

/* Also the failure path of open: every field may still be unset. */
void
tsn_store_close(struct tsn_store *s)
{
	if (s == NULL)
		return;
	if (s->db != NULL)
		leveldb_close(s->db);
	if (s->dbopts != NULL)
		leveldb_options_destroy(s->dbopts);
	if (s->dbcache != NULL)
		leveldb_cache_destroy(s->dbcache);
	if (s->ropts != NULL)
		leveldb_readoptions_destroy(s->ropts);
	if (s->wopts != NULL)
		leveldb_writeoptions_destroy(s->wopts);
	if (s->wopts_sync != NULL)
		leveldb_writeoptions_destroy(s->wopts_sync);
	if (s->chunksfd >= 0)
		close(s->chunksfd);
	if (s->lockfd >= 0)
		close(s->lockfd); /* releases the flock */
	if (s->dirfd >= 0)
		close(s->dirfd);
	pthread_mutex_destroy(&s->mu);
	free(s->path);
	free(s);
}

const char *
tsn_store_path(const struct tsn_store *s)
{
	return s->path;
}

void
tsn_store_stat(struct tsn_store *s, struct tsn_store_stat *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->st;
	pthread_mutex_unlock(&s->mu);
}
