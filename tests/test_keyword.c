/* test_keyword.c: keyword splitting (UTF-8, case, punctuation, extensions),
 * keyword keys, sealed keyword entries, slots and signing keys. */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "check.h"
#include "keyword.h"

static void
expect(const char *name, const char *const *want, size_t n)
{
	struct tsn_keywords kw;

	tsn_keywords_from_name(&kw, name, strlen(name));
	if (kw.n != n) {
		fprintf(stderr, "'%s': %zu words, want %zu:", name, kw.n, n);
		for (size_t i = 0; i < kw.n; i++)
			fprintf(stderr, " [%s]", kw.w[i]);
		fprintf(stderr, "\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		CHECK_STR(kw.w[i], want[i]);
}

#define EXPECT(name, ...) do { \
	static const char *const w_[] = {__VA_ARGS__}; \
	expect(name, w_, sizeof(w_) / sizeof(w_[0])); \
} while (0)

static void
test_split(void)
{
	struct tsn_keywords kw;
	char longw[200];

	EXPECT("Terra Pins - Live (2019).MP3", "terra", "pins", "live", "2019", "mp3");
	EXPECT("terra_pins,river;song!.ogg", "terra", "pins", "river", "song", "ogg");
	EXPECT("a b cd.x", "cd");                            /* 1-character words dropped */
	EXPECT("pins PINS Pins.pins", "pins");               /* case-folded, deduplicated */
	EXPECT("Élan Vital ΣΟΦΊΑΣ.flac", "élan", "vital", "σοφίασ", "flac");
	EXPECT("Война и мир.txt", "война", "мир", "txt");    /* Cyrillic; 'и' is too short */
	EXPECT("中 文 歌曲.mp3", "歌曲", "mp3");               /* one-character CJK words dropped */
	EXPECT("中文歌曲.mp3", "中文歌曲", "mp3");
	EXPECT("ab\xff" "cd\xc0\xaf" "ef", "ab", "cd", "ef"); /* invalid UTF-8 separates */
	EXPECT("ab\xe2\x82", "ab");                          /* truncated sequence at the end */
	EXPECT("x\xed\xa0\x80yz", "yz");                     /* a surrogate is invalid */
	EXPECT("don\xe2\x80\x99t stop", "don", "stop");     /* U+2019 is punctuation */

	tsn_keywords_from_name(&kw, "", 0);
	CHECK_INT(kw.n, ==, 0);
	tsn_keywords_from_name(&kw, "...---...", 9);
	CHECK_INT(kw.n, ==, 0);

	/* A word longer than TSN_KW_MAX_LEN bytes is cut at a character boundary. */
	memset(longw, 'q', sizeof(longw));
	tsn_keywords_from_name(&kw, longw, sizeof(longw));
	CHECK_INT(kw.n, ==, 1);
	CHECK_INT(strlen(kw.w[0]), ==, TSN_KW_MAX_LEN);
	for (size_t i = 0; i < 100; i += 2)
		memcpy(longw + i, "\xc3\xa9", 2); /* é: 2 bytes each */
	tsn_keywords_from_name(&kw, longw, 100);
	CHECK_INT(strlen(kw.w[0]), ==, TSN_KW_MAX_LEN);

	/* At most TSN_KW_MAX words. */
	{
		char many[TSN_KW_MAX * 8 + 64];
		size_t n = 0;
		for (int i = 0; i < TSN_KW_MAX + 10; i++)
			n += (size_t)snprintf(many + n, sizeof(many) - n, "w%d ", i);
		tsn_keywords_from_name(&kw, many, n);
		CHECK_INT(kw.n, ==, TSN_KW_MAX);
	}

	/* Extra keywords add to a name's, without duplicates. */
	tsn_keywords_from_name(&kw, "river song.mp3", 14);
	tsn_keywords_add(&kw, "Live, RIVER", 11);
	CHECK_INT(kw.n, ==, 4);
	CHECK_STR(kw.w[3], "live");
}

static void
test_normalize_and_key(void)
{
	char w[TSN_KW_MAX_LEN + 1];
	uint8_t k1[32], k2[32], k3[32];

	CHECK_INT(tsn_keyword_normalize("Terra", 5, w), ==, 0);
	CHECK_STR(w, "terra");
	CHECK_INT(tsn_keyword_normalize("  ΣΟΦΊΑ ", 13, w), ==, 0);
	CHECK_STR(w, "σοφία");
	CHECK_INT(tsn_keyword_normalize("a", 1, w), ==, -EINVAL);
	CHECK_INT(tsn_keyword_normalize("", 0, w), ==, -EINVAL);
	CHECK_INT(tsn_keyword_normalize("two words", 9, w), ==, -EINVAL);
	CHECK_INT(tsn_keyword_normalize("..", 2, w), ==, -EINVAL);

	tsn_keyword_key("terra", k1);
	tsn_keyword_key("terra", k2);
	tsn_keyword_key("pins", k3);
	CHECK_MEM(k1, k2, 32);
	CHECK(memcmp(k1, k3, 32) != 0);
	/* The key is BLAKE2b-256("tsn/kw/" | pk), pk from the seed
	 * BLAKE2b-256("tsn/kwsign/" | word), as docs/formats.md says. */
	{
		uint8_t seed[32], pk[32], sk[64], pk2[32], sk2[64], m[7 + 32];
		crypto_generichash(seed, 32, (const uint8_t *)"tsn/kwsign/terra", 16, NULL, 0);
		crypto_sign_seed_keypair(pk, sk, seed);
		tsn_kw_word_keys("terra", pk2, sk2);
		CHECK_MEM(pk, pk2, 32);
		CHECK_MEM(sk, sk2, 64);
		memcpy(m, "tsn/kw/", 7);
		memcpy(m + 7, pk, 32);
		crypto_generichash(k2, 32, m, sizeof(m), NULL, 0);
		CHECK_MEM(k1, k2, 32);
		tsn_kw_slot_salt(pk, seed);
		crypto_generichash(k3, 16, pk, 32, NULL, 0);
		CHECK_MEM(seed, k3, 16);
	}
}

static void
test_entry(void)
{
	struct tsn_kw_entry e, back;
	uint8_t nonce[TSN_KW_NONCE_LEN], sealed[TSN_KW_ENTRY_MAX];
	long n;

	memset(&e, 0, sizeof(e));
	e.uri.size = 123456789;
	randombytes_buf(e.uri.id, sizeof(e.uri.id));
	randombytes_buf(e.uri.key, sizeof(e.uri.key));
	strcpy(e.name, "Terra Pins - Live.mp3");
	randombytes_buf(nonce, sizeof(nonce));

	n = tsn_kw_entry_seal("terra", &e, nonce, sealed, sizeof(sealed));
	CHECK(n > 0 && (size_t)n <= TSN_KW_ENTRY_MAX);
	CHECK_INT(tsn_kw_entry_open("terra", sealed, (size_t)n, &back), ==, 0);
	CHECK_STR(back.name, e.name);
	CHECK_U64(back.uri.size, ==, e.uri.size);
	CHECK_MEM(back.uri.id, e.uri.id, 32);
	CHECK_MEM(back.uri.key, e.uri.key, 32);
	CHECK_INT(back.flags, ==, 0);
	/* The name is not readable in the sealed bytes. */
	CHECK(memmem(sealed, (size_t)n, "Terra", 5) == NULL);

	/* Another word cannot open it; every flipped byte and truncation is refused. */
	CHECK_INT(tsn_kw_entry_open("pins", sealed, (size_t)n, &back), ==, -EBADMSG);
	for (long i = 0; i < n; i++) {
		sealed[i] ^= 0x01;
		CHECK_INT(tsn_kw_entry_open("terra", sealed, (size_t)n, &back), ==, -EBADMSG);
		sealed[i] ^= 0x01;
	}
	for (long l = 0; l < n; l++)
		CHECK_INT(tsn_kw_entry_open("terra", sealed, (size_t)l, &back), ==, -EBADMSG);

	/* Tombstones keep their flag. */
	e.flags = TSN_KW_WITHDRAWN;
	n = tsn_kw_entry_seal("terra", &e, nonce, sealed, sizeof(sealed));
	CHECK_INT(tsn_kw_entry_open("terra", sealed, (size_t)n, &back), ==, 0);
	CHECK_INT(back.flags, ==, TSN_KW_WITHDRAWN);

	/* Names that could escape a folder are refused at seal. */
	e.flags = 0;
	strcpy(e.name, "a/b");
	CHECK_INT(tsn_kw_entry_seal("terra", &e, nonce, sealed, sizeof(sealed)), ==, -EINVAL);
	strcpy(e.name, "..");
	CHECK_INT(tsn_kw_entry_seal("terra", &e, nonce, sealed, sizeof(sealed)), ==, -EINVAL);
	e.name[0] = '\0';
	CHECK_INT(tsn_kw_entry_seal("terra", &e, nonce, sealed, sizeof(sealed)), ==, -EINVAL);
	e.flags = 0x80;
	strcpy(e.name, "ok");
	CHECK_INT(tsn_kw_entry_seal("terra", &e, nonce, sealed, sizeof(sealed)), ==, -EINVAL);
}

static void
test_slot_and_signer(void)
{
	struct tsn_uri u1, u2;
	uint8_t s1[16], s2[16], s3[16], secret[32], pk1[32], sk1[64], pk2[32], sk2[64], pk3[32],
	        sk3[64];

	memset(&u1, 1, sizeof(u1));
	memset(&u2, 2, sizeof(u2));
	tsn_kw_salt(&u1, "song.mp3", s1);
	tsn_kw_salt(&u1, "other.mp3", s2);
	tsn_kw_salt(&u2, "song.mp3", s3);
	CHECK(memcmp(s1, s2, 16) != 0 && memcmp(s1, s3, 16) != 0);
	tsn_kw_salt(&u1, "song.mp3", s2);
	CHECK_MEM(s1, s2, 16);

	randombytes_buf(secret, sizeof(secret));
	tsn_kw_signing_key(secret, s1, pk1, sk1);
	tsn_kw_signing_key(secret, s1, pk2, sk2);
	tsn_kw_signing_key(secret, s3, pk3, sk3);
	CHECK_MEM(pk1, pk2, 32);           /* derivable again, to republish or withdraw */
	CHECK(memcmp(pk1, pk3, 32) != 0);  /* another file: an unlinkable key */
}

int
main(void)
{
	CHECK(sodium_init() >= 0);
	test_split();
	test_normalize_and_key();
	test_entry();
	test_slot_and_signer();
	return 0;
}
