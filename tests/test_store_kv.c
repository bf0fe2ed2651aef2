/* test_store_kv.c: the kv tables of store.h (saved peers, records, namespace). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "store.h"

struct seen {
	int n;
	char keys[8][8];
};

static int
collect(void *ud, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct seen *s = ud;

	CHECK_INT(vlen, ==, 1);
	CHECK(klen < 8);
	memcpy(s->keys[s->n], key, klen);
	s->keys[s->n][klen] = '\0';
	(void)val;
	return ++s->n == 8 ? 1 : 0;
}

int
main(void)
{
	char dir[] = "/tmp/tsn-kv-XXXXXX", err[256], cmd[64], buf[16];
	struct tsn_store *s = NULL;
	struct seen seen = {0};
	char big[TSN_KV_VALUE_MAX + 1];

	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(tsn_store_open(&s, dir, NULL, err, sizeof(err)), ==, 0);

	CHECK_INT(tsn_store_kv_put(s, TSN_KV_PEERS, "b", 1, "2", 1, 0), ==, 0);
	CHECK_INT(tsn_store_kv_put(s, TSN_KV_PEERS, "a", 1, "1", 1, 1), ==, 0);
	CHECK_INT(tsn_store_kv_put(s, TSN_KV_RECORDS, "a", 1, "x", 1, 0), ==, 0);
	CHECK_INT(tsn_store_kv_get(s, TSN_KV_PEERS, "a", 1, buf, sizeof(buf)), ==, 1);
	CHECK(buf[0] == '1');
	CHECK_INT(tsn_store_kv_get(s, TSN_KV_PEERS, "c", 1, buf, sizeof(buf)), ==, -ENOENT);
	CHECK_INT(tsn_store_kv_get(s, TSN_KV_PEERS, "a", 1, buf, 0), ==, -EMSGSIZE);
	/* The store's own tables are not reachable through kv. */
	CHECK_INT(tsn_store_kv_put(s, 'c', "a", 1, "1", 1, 0), ==, -EINVAL);
	CHECK_INT(tsn_store_kv_get(s, 'f', "a", 1, buf, sizeof(buf)), ==, -EINVAL);
	memset(big, 'v', sizeof(big));
	CHECK_INT(tsn_store_kv_put(s, TSN_KV_PEERS, "z", 1, big, sizeof(big), 0), ==, -EINVAL);

	/* Listing stays inside its table, in key order. */
	CHECK_INT(tsn_store_kv_list(s, TSN_KV_PEERS, collect, &seen), ==, 0);
	CHECK_INT(seen.n, ==, 2);
	CHECK_STR(seen.keys[0], "a");
	CHECK_STR(seen.keys[1], "b");

	/* Persists across reopen; delete works. */
	tsn_store_close(s);
	CHECK_INT(tsn_store_open(&s, dir, NULL, err, sizeof(err)), ==, 0);
	CHECK_INT(tsn_store_kv_get(s, TSN_KV_PEERS, "b", 1, buf, sizeof(buf)), ==, 1);
	CHECK_INT(tsn_store_kv_delete(s, TSN_KV_PEERS, "b", 1), ==, 0);
	CHECK_INT(tsn_store_kv_get(s, TSN_KV_PEERS, "b", 1, buf, sizeof(buf)), ==, -ENOENT);
	CHECK_INT(tsn_store_kv_get(s, TSN_KV_RECORDS, "a", 1, buf, sizeof(buf)), ==, 1);
	tsn_store_close(s);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), ==, 0);
	return 0;
}
