/*
 * test_fs.c: unit tests of the driver's parts that need no mount: the
 * namespace record codec (ns.c; every malformed form refused), the pin and
 * push records, mount.tsn's option parser (opts.c), and the inode and
 * directory tables (inode.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/check.h"
#include "fs_i.h"
#include "fs_ns_i.h"
#include "opts.h"

static struct fs_node *
sample(void)
{
	struct fs_node *n = fs_node_new(FS_FILE, 42, "song.mp3");

	CHECK(n != NULL);
	n->mode = S_IFREG | 04751;
	n->uid = 1000;
	n->gid = 100;
	n->atime.tv_sec = -5;
	n->atime.tv_nsec = 999999999;
	n->mtime.tv_sec = 1700000000;
	n->mtime.tv_nsec = 1;
	n->ctime.tv_sec = 1700000001;
	n->seq = 77;
	n->has_uri = 1;
	n->uri.size = 123456789;
	for (int i = 0; i < TSN_ID_LEN; i++) {
		n->uri.id[i] = (uint8_t)i;
		n->uri.key[i] = (uint8_t)(0x80 + i);
	}
	n->keywords = strdup("terra live");
	n->klen = 10;
	return n;
}

static void
test_record_roundtrip(void)
{
	uint8_t v[FS_NS_HDR + FS_NAME_MAX + FS_KEYWORDS_MAX];
	struct fs_node *n = sample();
	struct fs_ns_rec r;
	size_t len = fs_ns_encode(n, 7, v);

	CHECK_INT(len, ==, FS_NS_HDR + 8 + 10);
	CHECK_INT(fs_ns_parse(v, len, &r), ==, 0);
	CHECK_INT(r.type, ==, FS_NS_FILE);
	CHECK_INT(r.has_uri, ==, 1);
	CHECK_U64(r.parent, ==, 7);
	CHECK_U64(r.seq, ==, 77);
	CHECK_INT(r.mode, ==, 04751);
	CHECK_INT(r.uid, ==, 1000);
	CHECK_INT(r.gid, ==, 100);
	CHECK_INT(r.atime.tv_sec, ==, -5);
	CHECK_INT(r.atime.tv_nsec, ==, 999999999);
	CHECK_INT(r.mtime.tv_sec, ==, 1700000000);
	CHECK_INT(r.mtime.tv_nsec, ==, 1);
	CHECK_U64(r.uri.size, ==, 123456789);
	CHECK_MEM(r.uri.id, n->uri.id, TSN_ID_LEN);
	CHECK_MEM(r.uri.key, n->uri.key, TSN_KEY_LEN);
	CHECK_STR(r.name, "song.mp3");
	CHECK_INT(r.klen, ==, 10);
	CHECK_MEM(r.keywords, "terra live", 10);

	/* Every truncation and an extra byte are refused. */
	for (size_t i = 0; i < len; i++)
		CHECK_INT(fs_ns_parse(v, i, &r), ==, -EBADMSG);
	v[len] = 0;
	CHECK_INT(fs_ns_parse(v, len + 1, &r), ==, -EBADMSG);
	fs_node_free(n);
}

/* Encode sample(), change one byte, expect a refusal. */
static void
refuse_byte(size_t off, uint8_t val, const char *what)
{
	uint8_t v[FS_NS_HDR + FS_NAME_MAX + FS_KEYWORDS_MAX];
	struct fs_node *n = sample();
	struct fs_ns_rec r;
	size_t len = fs_ns_encode(n, 7, v);

	v[off] = val;
	if (fs_ns_parse(v, len, &r) != -EBADMSG) {
		fprintf(stderr, "accepted a record with %s\n", what);
		exit(1);
	}
	fs_node_free(n);
}

static void
test_record_refusals(void)
{
	uint8_t v[FS_NS_HDR + FS_NAME_MAX + FS_KEYWORDS_MAX];
	struct fs_ns_rec r;
	struct fs_node *n;
	size_t len;

	refuse_byte(0, 2, "version 2");
	refuse_byte(0, 0, "version 0");
	refuse_byte(1, 3, "type 3");
	refuse_byte(2, 0x02, "an unknown flag");
	refuse_byte(3, 0, "an empty name");
	refuse_byte(3, 9, "a name length past the end");
	refuse_byte(20, 0x01, "type bits in the mode");
	refuse_byte(40, 0x3c, "nanoseconds over 10^9");
	refuse_byte(68, 0x01, "a size over 2^50");
	refuse_byte(140, 0x10, "keywords over the cap");
	refuse_byte(FS_NS_HDR + 2, '/', "a slash in the name");
	refuse_byte(FS_NS_HDR + 2, '\0', "a NUL in the name");
	refuse_byte(4 + 7, 0, "the root's parent (0) with another name");

	/* A directory with a URI flag, a file without a URI but with a key. */
	n = sample();
	n->kind = FS_DIR;
	len = fs_ns_encode(n, 7, v);
	CHECK_INT(fs_ns_parse(v, len, &r), ==, -EBADMSG);
	n->has_uri = 0;
	len = fs_ns_encode(n, 7, v);
	CHECK_INT(fs_ns_parse(v, len, &r), ==, 0);
	CHECK_INT(r.type, ==, FS_NS_DIR);
	v[100] = 1;
	CHECK_INT(fs_ns_parse(v, len, &r), ==, -EBADMSG);
	/* "." and "..", and the root's "/". */
	free(n->name);
	n->name = strdup("..");
	len = fs_ns_encode(n, 7, v);
	CHECK_INT(fs_ns_parse(v, len, &r), ==, -EBADMSG);
	free(n->name);
	n->name = strdup("/");
	len = fs_ns_encode(n, 0, v);
	CHECK_INT(fs_ns_parse(v, len, &r), ==, 0);
	len = fs_ns_encode(n, 1, v);
	CHECK_INT(fs_ns_parse(v, len, &r), ==, -EBADMSG);
	fs_node_free(n);
}

static void
test_small_records(void)
{
	uint8_t id[TSN_ID_LEN] = {1, 2, 3}, v[FS_NS_PIN_LEN + 1];
	struct tsn_uri u;
	int ext = -1;

	memset(v, 0, sizeof(v));
	v[0] = 1;
	v[1] = 1;
	v[9] = 5;
	v[10] = 0xaa;
	CHECK_INT(fs_ns_pin_parse(id, v, FS_NS_PIN_LEN, &u, &ext), ==, 0);
	CHECK_INT(ext, ==, 1);
	CHECK_U64(u.size, ==, 5);
	CHECK_INT(u.key[0], ==, 0xaa);
	CHECK_MEM(u.id, id, TSN_ID_LEN);
	CHECK_INT(fs_ns_pin_parse(id, v, FS_NS_PIN_LEN - 1, &u, &ext), ==, -EBADMSG);
	CHECK_INT(fs_ns_pin_parse(id, v, FS_NS_PIN_LEN + 1, &u, &ext), ==, -EBADMSG);
	v[1] = 2;
	CHECK_INT(fs_ns_pin_parse(id, v, FS_NS_PIN_LEN, &u, &ext), ==, -EBADMSG);
	v[1] = 0;
	v[2] = 0xff; /* size over 2^50 */
	CHECK_INT(fs_ns_pin_parse(id, v, FS_NS_PIN_LEN, &u, &ext), ==, -EBADMSG);

	memset(v, 0, sizeof(v));
	v[0] = 1;
	v[8] = 9;
	CHECK_INT(fs_ns_queue_parse(id, v, FS_NS_QUEUE_LEN, &u), ==, 0);
	CHECK_U64(u.size, ==, 9);
	CHECK_INT(fs_ns_queue_parse(id, v, FS_NS_QUEUE_LEN - 1, &u), ==, -EBADMSG);
	v[0] = 2;
	CHECK_INT(fs_ns_queue_parse(id, v, FS_NS_QUEUE_LEN, &u), ==, -EBADMSG);
}

static int
parse(struct tsn_mount_opts *o, char *err, const char *a0, const char *a1, const char *a2,
      const char *a3, const char *a4)
{
	char *argv[7] = {"mount.tsn", (char *)a0, (char *)a1, (char *)a2, (char *)a3, (char *)a4,
	                 NULL};
	int argc = 1;

	while (argc < 6 && argv[argc] != NULL)
		argc++;
	err[0] = '\0';
	return tsn_mount_opts_parse(argc, argv, o, err, 256);
}

static void
test_opts(void)
{
	static struct tsn_mount_opts o;
	char err[256];

	CHECK_INT(parse(&o, err, "-o", "datadir=/d,port=4000,host=127.0.0.1", "/mnt", NULL, NULL),
	          ==, 0);
	CHECK_STR(o.datadir, "/d");
	CHECK_INT(o.port, ==, 4000);
	CHECK_STR(o.host, "127.0.0.1");
	CHECK_STR(o.mountpoint, "/mnt");
	CHECK_STR(o.source, "tsn");
	CHECK_INT(o.timeout_ms, ==, 30000);
	CHECK_INT(o.foreground, ==, 0);

	/* mount(8)'s form, fstab words dropped, FUSE options kept. */
	CHECK_INT(parse(&o, err, "tsn", "/mnt/t", "-o",
	                "rw,defaults,noauto,x-systemd.automount,allow_other,bootstrap=[::1]:5,"
	                "bootstrap=10.0.0.1:7,timeout=3,quota=2G,replicas=3", "-n"), ==, 0);
	CHECK_STR(o.source, "tsn");
	CHECK_STR(o.mountpoint, "/mnt/t");
	CHECK_STR(o.fuse_opts, "rw,allow_other");
	CHECK_INT(o.nboot, ==, 2);
	CHECK_INT(o.boot[1].port, ==, 7);
	CHECK_INT(o.timeout_ms, ==, 3000);
	CHECK_U64(o.quota, ==, UINT64_C(2) << 30);
	CHECK_INT(o.replicas, ==, 3);

	CHECK_INT(parse(&o, err, "-o", "repair_interval=5,republish_interval=60,records_interval=7,"
	                "held_ttl=86400,leave_on_exit", "/m", NULL, NULL), ==, 0);
	CHECK_INT(o.repair_ms, ==, 5000);
	CHECK_INT(o.republish_ms, ==, 60000);
	CHECK_INT(o.records_ms, ==, 7000);
	CHECK_U64(o.held_ttl_ms, ==, UINT64_C(86400000));
	CHECK_INT(o.leave_on_exit, ==, 1);
	CHECK_INT(parse(&o, err, "-o", "repair_interval=0", "/m", NULL, NULL), ==, -EINVAL);
	CHECK_INT(parse(&o, err, "-o", "held_ttl=-1", "/m", NULL, NULL), ==, -EINVAL);
	CHECK_INT(parse(&o, err, "-o", "leave_on_exit=1", "/m", NULL, NULL), ==, -EINVAL);

	CHECK_INT(parse(&o, err, "-f", "-d", "/m", NULL, NULL), ==, 0);
	CHECK(o.foreground && o.debug);
	CHECK_INT(parse(&o, err, "--help", NULL, NULL, NULL, NULL), ==, 0);
	CHECK(o.help);

	CHECK_INT(parse(&o, err, "-o", "nope", "/m", NULL, NULL), ==, -EINVAL);
	CHECK(strstr(err, "nope") != NULL);
	CHECK_INT(parse(&o, err, "-o", "port=65536", "/m", NULL, NULL), ==, -EINVAL);
	CHECK_INT(parse(&o, err, "-o", "port=", "/m", NULL, NULL), ==, -EINVAL);
	CHECK_INT(parse(&o, err, "-o", "port", "/m", NULL, NULL), ==, -EINVAL);
	CHECK_INT(parse(&o, err, "-o", "bootstrap=1.2.3.4", "/m", NULL, NULL), ==, -EINVAL);
	CHECK_INT(parse(&o, err, "-o", "bootstrap=1.2.3.4:0", "/m", NULL, NULL), ==, -EINVAL);
	CHECK_INT(parse(&o, err, "-o", "timeout=0", "/m", NULL, NULL), ==, -EINVAL);
	CHECK_INT(parse(&o, err, "-o", "replicas=21", "/m", NULL, NULL), ==, -EINVAL);
	CHECK_INT(parse(&o, err, "-o", "quota=0", "/m", NULL, NULL), ==, -EINVAL);
	CHECK_INT(parse(&o, err, "-o", "host=localhost", "/m", NULL, NULL), ==, -EINVAL);
	CHECK_INT(parse(&o, err, "-o", "fsname=a b", "/m", NULL, NULL), ==, -EINVAL);
	CHECK_INT(parse(&o, err, "-o", "max_read=1", "/m", NULL, NULL), ==, -EINVAL);
	CHECK_INT(parse(&o, err, "-o", NULL, NULL, NULL, NULL), ==, -EINVAL);
	CHECK_INT(parse(&o, err, "-q", "/m", NULL, NULL, NULL), ==, -EINVAL);
	CHECK_INT(parse(&o, err, NULL, NULL, NULL, NULL, NULL), ==, -EINVAL);
	CHECK_INT(parse(&o, err, "a", "b", "c", NULL, NULL), ==, -EINVAL);
	/* At most 16 bootstrap peers. */
	CHECK_INT(parse(&o, err, "-o", "bootstrap=1.2.3.4:5,bootstrap=1.2.3.4:6,bootstrap=1.2.3.4:7,"
	                "bootstrap=1.2.3.4:8,bootstrap=1.2.3.4:9,bootstrap=1.2.3.4:10,"
	                "bootstrap=1.2.3.4:11,bootstrap=1.2.3.4:12,bootstrap=1.2.3.4:13,"
	                "bootstrap=1.2.3.4:14,bootstrap=1.2.3.4:15,bootstrap=1.2.3.4:16,"
	                "bootstrap=1.2.3.4:17,bootstrap=1.2.3.4:18,bootstrap=1.2.3.4:19,"
	                "bootstrap=1.2.3.4:20,bootstrap=1.2.3.4:21", "/m", NULL, NULL), ==, -EINVAL);
	CHECK(strstr(err, "16") != NULL);
}

static void
test_tables(void)
{
	static struct tsn_fs fs;
	struct fs_node *root, *d, *f, *n;
	char name[32];

	CHECK_INT(fs_table_init(&fs), ==, 0);
	root = fs_node_new(FS_DIR, FS_ROOT_ID, "/");
	d = fs_node_new(FS_DIR, 2, NULL);
	CHECK(root != NULL && d != NULL);
	root->linked = 1;
	fs_node_insert(&fs, root);
	fs_node_insert(&fs, d);
	CHECK_INT(fs_dir_link(&fs, root, d, "dir"), ==, 0);
	/* Enough files to make both tables grow. */
	for (uint64_t i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "f%llu", (unsigned long long)i);
		f = fs_node_new(FS_FILE, 100 + i, NULL);
		CHECK(f != NULL);
		fs_node_insert(&fs, f);
		CHECK_INT(fs_dir_link(&fs, d, f, name), ==, 0);
	}
	CHECK_INT(d->nchildren, ==, 5000);
	CHECK_INT(root->nsubdirs, ==, 1);
	n = fs_dir_find(&fs, d, "f4321");
	CHECK(n != NULL && n->ino == 4421);
	CHECK(fs_node_get(&fs, 4421) == n);
	CHECK(fs_dir_within(n, root) && !fs_dir_within(root, d));
	/* Unlinked with a lookup: stays until the forget. */
	n->nlookup = 2;
	fs_dir_unlink(&fs, n);
	CHECK(fs_dir_find(&fs, d, "f4321") == NULL);
	CHECK_INT(fs_node_put(&fs, n, 1, 0), ==, 0);
	CHECK(fs_node_get(&fs, 4421) == n);
	CHECK_INT(fs_node_put(&fs, n, 1, 0), ==, 1);
	CHECK(fs_node_get(&fs, 4421) == NULL);
	fs_node_free(n);
	/* Linked nodes stay whatever the counts. */
	n = fs_dir_find(&fs, d, "f7");
	CHECK_INT(fs_node_put(&fs, n, 5, 5), ==, 0);
	CHECK(fs_node_get(&fs, 107) == n);
	CHECK(fs_reserved_name(root, "uri") && fs_reserved_name(root, ".tsn") &&
	      !fs_reserved_name(d, "uri") && !fs_reserved_name(root, "uri2"));
	CHECK_INT(fs_check_name(""), ==, -EINVAL);
	CHECK_INT(fs_check_name(".."), ==, -EINVAL);
	memset(name, 'x', sizeof(name));
	name[sizeof(name) - 1] = '\0';
	CHECK_INT(fs_check_name(name), ==, 0);
	fs_table_fini(&fs);
}

int
main(void)
{
	test_record_roundtrip();
	test_record_refusals();
	test_small_records();
	test_opts();
	test_tables();
	return 0;
}
