/*
 * write.c: the data of a namespace file, in one of four states:
 *
 *   CLEAN    the committed content: node->uri (or empty without one)
 *   EMPTY    truncated to 0, not committed yet
 *   STREAM   written sequentially from offset 0 into an encoder (2 threads,
 *            which also store what they encode: the FUSE thread only copies
 *            data in): chunks are encoded and stored (pending) as they
 *            fill, so a 1 GiB cp holds a few chunks of memory
 *   STAGING  any other write pattern (overwrite, append to committed
 *            content, holes, truncate to non-zero, a read while streaming):
 *            an unlinked temp file under DATADIR/fs-staging holding the
 *            whole content, materialized from the committed URI or from the
 *            stream encoded so far (finished), encoded at commit
 *
 * Commit (flush, release, fsync, a truncate with no writer open): encode,
 * pin (pins.c: tsn_store_file_commit, synced), write the node's record
 * with the new URI, sync the namespace, unpin the old URI, queue the push.
 * A failure reverts the file to its committed content and is returned (the
 * caller's close or fsync sees it); nothing committed is touched.
 *
 * Consistency: a reader sees what writers have written so far (as on a
 * local file system): a read during STREAM first moves the file to
 * STAGING; reads of CLEAN content go through the handle's reader, reopened
 * when the committed URI changed. The content lock (rwlock) is held for
 * reading across a read and for writing across a write or commit, so a
 * commit never swaps the content under a read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_i.h"
#include "util.h"

enum { C_CLEAN = 0, C_EMPTY, C_STREAM, C_STAGING };

struct fs_content {
	pthread_rwlock_t lock;
	int state;
	struct tsn_encoder *enc; /* STREAM */
	int fd;                  /* STAGING, else -1 */
	uint64_t size;           /* live size in EMPTY, STREAM, STAGING */
	unsigned writers;        /* handles open for writing (under fs->mu) */
};

struct fs_content *
fs_content_new(void)
{
	struct fs_content *c = calloc(1, sizeof(*c));
	pthread_rwlockattr_t a;
	int rc;

	if (c == NULL)
		return NULL;
	/* Writers first: a loop of readers must not starve a cp. */
	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(&c->lock, &a);
	pthread_rwlockattr_destroy(&a);
	if (rc != 0) {
		free(c);
		return NULL;
	}
	c->fd = -1;
	return c;
}

static void
discard(struct fs_content *c)
{
	tsn_encoder_free(c->enc);
	c->enc = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = C_CLEAN;
	c->size = 0;
}

void
fs_content_free(struct fs_content *c)
{
	if (c == NULL)
		return;
	discard(c);
	pthread_rwlock_destroy(&c->lock);
	free(c);
}

void
fs_content_writers(struct fs_node *n, int delta)
{
	n->c->writers = (unsigned)((int)n->c->writers + delta);
}

unsigned
fs_content_nwriters(struct fs_node *n)
{
	return n->c->writers;
}

void
fs_content_created(struct fs_node *n)
{
	n->c->state = C_EMPTY;
}

static int
put_block(void *ud, const struct tsn_chunk_ref *ref, int kind, const uint8_t *block, size_t len)
{
	struct tsn_fs *fs = ud;

	(void)kind;
	return tsn_store_chunk_put(fs->store, ref->id, block, len, TSN_CHUNK_PENDING);
}

static int
encoder_new(struct tsn_fs *fs, struct tsn_encoder **enc)
{
	/* put_block is thread-safe: the encoder's threads store the blocks. */
	struct tsn_encoder_opts eo = {.threads = FS_ENCODER_THREADS, .put_mt = 1};

	return tsn_encoder_new(enc, &eo, put_block, fs);
}

/* The committed size (caller holds the content lock). */
static uint64_t
clean_size(const struct fs_node *n)
{
	return n->has_uri ? n->uri.size : 0;
}

static uint64_t
live_size(const struct fs_node *n)
{
	return n->c->state == C_CLEAN ? clean_size(n) : n->c->size;
}

static int
staging_open(struct tsn_fs *fs)
{
	char path[4200];
	int fd;

	fd = open(fs->stage_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	snprintf(path, sizeof(path), "%s/stage.XXXXXX", fs->stage_dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) < 0)
		return -errno;
	unlink(path);
	return fd;
}

static int
pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;
	ssize_t w;

	while (len > 0) {
		w = pwrite(fd, p, len, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == EDQUOT ? -ENOSPC : -errno;
		p += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Decode the file uri names from the local store into fd. */
static int
copy_uri(struct tsn_fs *fs, const struct tsn_uri *uri, int fd)
{
	struct tsn_reader *r = NULL;
	uint64_t off = 0;
	char *buf = NULL, why[256];
	ssize_t got;
	int rc;

	if (uri->size == 0)
		return 0;
	if ((buf = malloc(FS_IO_BUF)) == NULL)
		return -ENOMEM;
	rc = tsn_reader_open_err(&r, uri, tsn_store_fetch, fs->store, why, sizeof(why));
	if (rc < 0) {
		tsn_log(TSN_LOG_ERROR, "mount: cannot read back a file: %s", why);
		goto out;
	}
	while (off < uri->size) {
		if ((got = tsn_reader_pread(r, buf, FS_IO_BUF, off)) <= 0) {
			rc = got < 0 ? (int)got : -EIO;
			tsn_log(TSN_LOG_ERROR, "mount: cannot read back a file: %s",
			        tsn_reader_error(r));
			goto out;
		}
		if ((rc = pwrite_all(fd, buf, (size_t)got, off)) < 0)
			goto out;
		off += (uint64_t)got;
	}
	rc = 0;
out:
	tsn_reader_free(r);
	free(buf);
	return rc;
}

/* Move the content to a staging file (caller holds the lock for writing). */
static int
to_staging(struct tsn_fs *fs, struct fs_node *n)
{
	struct fs_content *c = n->c;
	struct tsn_uri uri;
	int fd, rc;

	if (c->state == C_STAGING)
		return 0;
	if ((fd = staging_open(fs)) < 0) {
		tsn_log(TSN_LOG_ERROR, "mount: cannot create a staging file in %s: %s",
		        fs->stage_dir, strerror(-fd));
		return fd;
	}
	switch (c->state) {
	case C_CLEAN:
		rc = n->has_uri ? copy_uri(fs, &n->uri, fd) : 0;
		c->size = clean_size(n);
		break;
	case C_STREAM:
		/* Its chunks stay pending (gc drops them once unused). */
		rc = tsn_encoder_finish(c->enc, &uri);
		if (rc == 0)
			rc = copy_uri(fs, &uri, fd);
		tsn_encoder_free(c->enc);
		c->enc = NULL;
		if (rc < 0) {
			close(fd);
			return rc;
		}
		break;
	default: /* C_EMPTY */
		rc = 0;
		c->size = 0;
		break;
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	c->fd = fd;
	c->state = C_STAGING;
	return 0;
}

/* A dead stream or a failed staging write: back to the committed content. */
static void
revert(struct tsn_fs *fs, struct fs_node *n)
{
	discard(n->c);
	pthread_mutex_lock(&fs->mu);
	n->size = clean_size(n);
	pthread_mutex_unlock(&fs->mu);
}

int
fs_content_write(struct tsn_fs *fs, struct fs_node *n, const void *buf, size_t len,
                 uint64_t off)
{
	struct fs_content *c = n->c;
	uint64_t end;
	int rc = 0;

	if (off > TSN_FILE_MAX || len > TSN_FILE_MAX - off)
		return -EFBIG;
	end = off + len;
	pthread_rwlock_wrlock(&c->lock);
	if ((c->state == C_CLEAN || c->state == C_EMPTY) && off == 0 && live_size(n) == 0) {
		if ((rc = encoder_new(fs, &c->enc)) < 0)
			goto out;
		c->state = C_STREAM;
		c->size = 0;
	}
	if (c->state != C_STREAM || off != c->size)
		if ((rc = to_staging(fs, n)) < 0) {
			if (c->state == C_STREAM)
				revert(fs, n);
			goto out;
		}
	if (c->state == C_STREAM) {
		if ((rc = tsn_encoder_write(c->enc, buf, len)) < 0) {
			tsn_log(TSN_LOG_ERROR, "mount: write to '%s' failed: %s (the file keeps "
			        "its last committed content)", n->name, strerror(-rc));
			revert(fs, n);
			goto out;
		}
	} else if ((rc = pwrite_all(c->fd, buf, len, off)) < 0)
		goto out;
	if (end > c->size)
		c->size = end;
	pthread_mutex_lock(&fs->mu);
	n->size = c->size;
	fs_now(&n->mtime);
	n->ctime = n->mtime;
	pthread_mutex_unlock(&fs->mu);
out:
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

int
fs_content_truncate(struct tsn_fs *fs, struct fs_node *n, uint64_t size)
{
	struct fs_content *c = n->c;
	int rc = 0;

	if (size > TSN_FILE_MAX)
		return -EFBIG;
	pthread_rwlock_wrlock(&c->lock);
	if (size == live_size(n))
		goto out;
	if (size == 0) {
		discard(c);
		c->state = C_EMPTY;
	} else {
		if ((rc = to_staging(fs, n)) < 0) {
			if (c->state == C_STREAM)
				revert(fs, n);
			goto out;
		}
		if (ftruncate(c->fd, (off_t)size) != 0) {
			rc = errno == EDQUOT ? -ENOSPC : -errno;
			goto out;
		}
		c->size = size;
	}
	pthread_mutex_lock(&fs->mu);
	n->size = size;
	pthread_mutex_unlock(&fs->mu);
out:
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

/* Encode the staging file into a new URI. */
static int
encode_fd(struct tsn_fs *fs, int fd, uint64_t size, struct tsn_uri *uri)
{
	struct tsn_encoder *enc = NULL;
	uint64_t off = 0;
	char *buf;
	ssize_t got;
	int rc;

	if ((buf = malloc(FS_IO_BUF)) == NULL)
		return -ENOMEM;
	if ((rc = encoder_new(fs, &enc)) < 0)
		goto out;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	while (off < size) {
		size_t want = size - off < FS_IO_BUF ? (size_t)(size - off) : FS_IO_BUF;
		got = pread(fd, buf, want, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			rc = got < 0 ? -errno : -EIO;
			goto out;
		}
		if ((rc = tsn_encoder_write(enc, buf, (size_t)got)) < 0)
			goto out;
		off += (uint64_t)got;
	}
	rc = tsn_encoder_finish(enc, uri);
out:
	tsn_encoder_free(enc);
	free(buf);
	return rc;
}

/* The new content's URI (caller holds the lock for writing). */
static int
encode(struct tsn_fs *fs, struct fs_content *c, struct tsn_uri *uri)
{
	struct tsn_encoder *enc = NULL;
	int rc;

	switch (c->state) {
	case C_STREAM:
		return tsn_encoder_finish(c->enc, uri);
	case C_STAGING:
		return encode_fd(fs, c->fd, c->size, uri);
	default: /* C_EMPTY */
		if ((rc = encoder_new(fs, &enc)) == 0)
			rc = tsn_encoder_finish(enc, uri);
		tsn_encoder_free(enc);
		return rc;
	}
}

int
fs_content_commit(struct tsn_fs *fs, struct fs_node *n)
{
	struct fs_content *c = n->c;
	struct tsn_uri uri, old;
	char name[FS_NAME_MAX + 1];
	int rc = 0, had, linked;

	pthread_rwlock_wrlock(&c->lock);
	if (c->state == C_CLEAN)
		goto out;
	pthread_mutex_lock(&fs->mu);
	linked = n->linked;
	snprintf(name, sizeof(name), "%s", n->name);
	pthread_mutex_unlock(&fs->mu);
	if (!linked)
		goto out; /* unlinked: nobody will see it again; freed with the node */
	if ((rc = encode(fs, c, &uri)) < 0 || (rc = fs_pin_ref(fs, &uri, name)) < 0) {
		tsn_log(TSN_LOG_ERROR, "mount: cannot commit '%s': %s (it keeps its last "
		        "committed content)", name,
		        rc == -ENOSPC ? "no space left (store quota or disk full)" : strerror(-rc));
		revert(fs, n);
		goto out;
	}
	if (fs_ns_queue_put(fs, &uri) < 0)
		tsn_log(TSN_LOG_WARN, "mount: cannot record the push of '%s'", name);
	/* From here until published: the name and link as they are now (a
	 * rename or unlink may have run during the encode). */
	pthread_mutex_lock(&fs->pub_mu);
	pthread_mutex_lock(&fs->mu);
	had = n->has_uri;
	old = n->uri;
	n->uri = uri;
	n->has_uri = 1;
	n->size = uri.size;
	linked = n->linked;
	snprintf(name, sizeof(name), "%s", n->name);
	if (linked)
		rc = fs_ns_put(fs, n);
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0)
		rc = fs_ns_sync(fs);
	if (rc < 0)
		tsn_log(TSN_LOG_ERROR, "mount: '%s' is stored but its name could not be "
		        "recorded: %s", name, strerror(-rc));
	if (had)
		fs_pin_unref(fs, &old);
	fs_push_add(fs, &uri);
	/* Unlinked meanwhile: the unlink withdrew what was published. */
	if (linked && had && memcmp(old.id, uri.id, TSN_ID_LEN) != 0)
		fs_withdraw(fs, &old, name);
	if (linked)
		fs_publish(fs, n, &uri, name);
	pthread_mutex_unlock(&fs->pub_mu);
	discard(c);
out:
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

/* Read committed content through the handle's reader (lock held for reading). */
static ssize_t
read_clean(struct tsn_fs *fs, struct fs_handle *h, char *buf, size_t len, uint64_t off)
{
	struct fs_node *n = h->node;
	ssize_t got;
	int rc;

	if (!n->has_uri || off >= n->uri.size)
		return 0;
	pthread_mutex_lock(&h->mu);
	if (h->rd == NULL || memcmp(h->rd_id, n->uri.id, TSN_ID_LEN) != 0) {
		tsn_reader_free(h->rd);
		h->rd = NULL;
		rc = tsn_reader_open(&h->rd, &n->uri, tsn_store_fetch, fs->store);
		if (rc < 0) {
			pthread_mutex_unlock(&h->mu);
			tsn_log(TSN_LOG_ERROR, "mount: cannot open '%s' from the local store: %s",
			        n->name, strerror(-rc));
			return -EIO;
		}
		memcpy(h->rd_id, n->uri.id, TSN_ID_LEN);
	}
	got = tsn_reader_pread(h->rd, buf, len, off);
	if (got < 0) {
		tsn_log(TSN_LOG_ERROR, "mount: read of '%s': %s", n->name, tsn_reader_error(h->rd));
		got = got == -ENOMEM ? -ENOMEM : -EIO;
	}
	pthread_mutex_unlock(&h->mu);
	return got;
}

ssize_t
fs_content_read(struct tsn_fs *fs, struct fs_handle *h, char *buf, size_t len, uint64_t off)
{
	struct fs_content *c = h->node->c;
	size_t done = 0;
	ssize_t got = 0;
	int rc;

	pthread_rwlock_rdlock(&c->lock);
	while (c->state == C_STREAM) {
		pthread_rwlock_unlock(&c->lock);
		pthread_rwlock_wrlock(&c->lock);
		if (c->state == C_STREAM && (rc = to_staging(fs, h->node)) < 0) {
			revert(fs, h->node);
			pthread_rwlock_unlock(&c->lock);
			return rc;
		}
		pthread_rwlock_unlock(&c->lock);
		pthread_rwlock_rdlock(&c->lock);
	}
	switch (c->state) {
	case C_STAGING:
		if (off >= c->size)
			break;
		if (len > c->size - off)
			len = (size_t)(c->size - off);
		while (done < len) {
			got = pread(c->fd, buf + done, len - done, (off_t)(off + done));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				break;
			done += (size_t)got;
		}
		got = got < 0 ? -errno : (ssize_t)done;
		break;
	case C_CLEAN:
		got = read_clean(fs, h, buf, len, off);
		break;
	default:
		break;
	}
	pthread_rwlock_unlock(&c->lock);
	return got;
}
