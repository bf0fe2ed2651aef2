/*
 * keyword.c: keyword splitting, keyword keys, sealed keyword entries.
 */
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <string.h>
#include <wctype.h>

#include <sodium.h>

#include "keyword.h"
#include "util.h"

static const char kw_key_prefix[] = "tsn/kw/";    /* DHT key */
static const char kw_enc_prefix[] = "tsn/kwenc/"; /* entry key: differs at byte 6 */
static const char kw_sign_prefix[] = "tsn/kwsign/"; /* seed of the word's key pair */

static pthread_once_t loc_once = PTHREAD_ONCE_INIT;
static locale_t loc_utf8; /* made once, never changed: C.UTF-8 classes and case */

static void
loc_init(void)
{
	loc_utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* Decode one UTF-8 character at s[*i] (strict); -1 for an invalid byte. */
static long
utf8_next(const unsigned char *s, size_t len, size_t *i)
{
	unsigned char c = s[*i];
	size_t n;
	long cp, min;

	if (c < 0x80) {
		(*i)++;
		return c;
	}
	if ((c & 0xe0) == 0xc0) {
		n = 1; cp = c & 0x1f; min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 2; cp = c & 0x0f; min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 3; cp = c & 0x07; min = 0x10000;
	} else {
		(*i)++;
		return -1;
	}
	if (n >= len - *i) { /* the continuation bytes are not all there */
		(*i)++;
		return -1;
	}
	for (size_t k = 1; k <= n; k++) {
		if ((s[*i + k] & 0xc0) != 0x80) {
			(*i)++;
			return -1;
		}
		cp = cp << 6 | (s[*i + k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		(*i)++;
		return -1;
	}
	*i += n + 1;
	return cp;
}

static size_t
utf8_put(unsigned char *o, long cp)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xc0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xe0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

static int
is_word_char(long cp)
{
	if (cp < 0)
		return 0;
	if (cp < 0x80)
		return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
	return loc_utf8 != (locale_t)0 && iswalnum_l((wint_t)cp, loc_utf8);
}

static long
fold(long cp)
{
	if (cp < 0x80)
		return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
	if (cp == 0x3c2) /* final sigma folds to sigma */
		return 0x3c3;
	return loc_utf8 != (locale_t)0 ? (long)towlower_l((wint_t)cp, loc_utf8) : cp;
}

/* Call fn for each word of text: lower-cased UTF-8, cut to TSN_KW_MAX_LEN
 * bytes at a character boundary, with its length in characters. */
static void
each_word(const char *text, size_t len, void (*fn)(void *ud, const char *w, size_t bytes,
                                                   size_t chars),
          void *ud)
{
	const unsigned char *s = (const unsigned char *)text;
	unsigned char w[TSN_KW_MAX_LEN + 4];
	size_t i = 0, wb = 0, wc = 0;

	pthread_once(&loc_once, loc_init);
	while (i < len) {
		long cp = utf8_next(s, len, &i);
		if (is_word_char(cp)) {
			unsigned char b[4];
			size_t n = utf8_put(b, fold(cp));
			/* Past TSN_KW_MAX_LEN bytes the rest of the word is dropped. */
			if (wb + n <= TSN_KW_MAX_LEN) {
				memcpy(w + wb, b, n);
				wb += n;
				wc++;
			}
			continue;
		}
		if (wb > 0)
			fn(ud, (const char *)w, wb, wc);
		wb = wc = 0;
	}
	if (wb > 0)
		fn(ud, (const char *)w, wb, wc);
}

static void
add_word(void *ud, const char *w, size_t bytes, size_t chars)
{
	struct tsn_keywords *kw = ud;

	if (chars < TSN_KW_MIN || kw->n >= TSN_KW_MAX)
		return;
	for (size_t j = 0; j < kw->n; j++)
		if (strlen(kw->w[j]) == bytes && memcmp(kw->w[j], w, bytes) == 0)
			return;
	memcpy(kw->w[kw->n], w, bytes);
	kw->w[kw->n][bytes] = '\0';
	kw->n++;
}

size_t
tsn_keywords_add(struct tsn_keywords *kw, const char *text, size_t len)
{
	each_word(text, len, add_word, kw);
	return kw->n;
}

size_t
tsn_keywords_from_name(struct tsn_keywords *kw, const char *name, size_t len)
{
	kw->n = 0;
	return tsn_keywords_add(kw, name, len);
}

struct one_word {
	int words;
	size_t chars;
	char *out;
};

static void
take_one(void *ud, const char *w, size_t bytes, size_t chars)
{
	struct one_word *o = ud;

	if (o->words++ == 0) {
		memcpy(o->out, w, bytes);
		o->out[bytes] = '\0';
		o->chars = chars;
	}
}

int
tsn_keyword_normalize(const char *word, size_t len, char out[TSN_KW_MAX_LEN + 1])
{
	struct one_word o = {.out = out};

	each_word(word, len, take_one, &o);
	if (o.words != 1 || o.chars < TSN_KW_MIN) {
		out[0] = '\0';
		return -EINVAL;
	}
	return 0;
}

static void
prefixed_hash(const char *prefix, const char *word, uint8_t out[32])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)prefix, strlen(prefix));
	crypto_generichash_update(&st, (const uint8_t *)word, strlen(word));
	crypto_generichash_final(&st, out, 32);
}

void
tsn_kw_word_keys(const char *word, uint8_t pk[32], uint8_t sk[64])
{
	uint8_t seed[32];

	prefixed_hash(kw_sign_prefix, word, seed);
	crypto_sign_seed_keypair(pk, sk, seed);
	sodium_memzero(seed, sizeof(seed));
}

void
tsn_kw_key_of_pk(const uint8_t pk[32], uint8_t key[TSN_ID_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, TSN_ID_LEN);
	crypto_generichash_update(&st, (const uint8_t *)kw_key_prefix, strlen(kw_key_prefix));
	crypto_generichash_update(&st, pk, 32);
	crypto_generichash_final(&st, key, TSN_ID_LEN);
}

void
tsn_keyword_key(const char *word, uint8_t key[TSN_ID_LEN])
{
	uint8_t pk[32], sk[64];

	tsn_kw_word_keys(word, pk, sk);
	sodium_memzero(sk, sizeof(sk));
	tsn_kw_key_of_pk(pk, key);
}

void
tsn_kw_slot_salt(const uint8_t slot_pk[32], uint8_t salt[TSN_KW_SALT_LEN])
{
	crypto_generichash(salt, TSN_KW_SALT_LEN, slot_pk, 32, NULL, 0);
}

static int
name_ok(const char *name, size_t n)
{
	if (n == 0 || n > TSN_KW_NAME_MAX || memchr(name, '/', n) != NULL ||
	    memchr(name, '\0', n) != NULL)
		return 0;
	return !(n == 1 && name[0] == '.') && !(n == 2 && name[0] == '.' && name[1] == '.');
}

long
tsn_kw_entry_seal(const char *word, const struct tsn_kw_entry *e,
                  const uint8_t nonce[TSN_KW_NONCE_LEN], uint8_t *out, size_t cap)
{
	uint8_t key[32], plain[TSN_KW_ENTRY_MAX], ad = TSN_KW_ENTRY_VERSION;
	size_t nl = strnlen(e->name, sizeof(e->name)), n = 0;
	unsigned long long clen;

	if (!name_ok(e->name, nl) || cap < TSN_KW_ENTRY_MAX || (e->flags & ~TSN_KW_WITHDRAWN))
		return -EINVAL;
	plain[n++] = TSN_KW_ENTRY_VERSION;
	plain[n++] = e->flags;
	tsn_put_be16(plain + n, (uint16_t)nl);
	n += 2;
	memcpy(plain + n, e->name, nl);
	n += nl;
	tsn_put_be64(plain + n, e->uri.size);
	n += 8;
	memcpy(plain + n, e->uri.id, TSN_ID_LEN);
	n += TSN_ID_LEN;
	memcpy(plain + n, e->uri.key, TSN_KEY_LEN);
	n += TSN_KEY_LEN;

	prefixed_hash(kw_enc_prefix, word, key);
	memcpy(out, nonce, TSN_KW_NONCE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + TSN_KW_NONCE_LEN, &clen, plain, n, &ad, 1,
	                                           NULL, nonce, key);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(plain, sizeof(plain));
	return (long)(TSN_KW_NONCE_LEN + clen);
}

int
tsn_kw_entry_open(const char *word, const uint8_t *in, size_t len, struct tsn_kw_entry *out)
{
	uint8_t key[32], plain[TSN_KW_ENTRY_MAX], ad = TSN_KW_ENTRY_VERSION;
	unsigned long long plen;
	size_t nl, n = 0;
	int rc = -EBADMSG;

	if (len < TSN_KW_NONCE_LEN + TSN_KW_TAG_LEN + 4 || len > TSN_KW_ENTRY_MAX)
		return -EBADMSG;
	prefixed_hash(kw_enc_prefix, word, key);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plen, NULL, in + TSN_KW_NONCE_LEN,
	                                               len - TSN_KW_NONCE_LEN, &ad, 1, in, key) != 0)
		goto out;
	if (plain[0] != TSN_KW_ENTRY_VERSION) {
		rc = -EPROTO;
		goto out;
	}
	if (plain[1] & ~TSN_KW_WITHDRAWN)
		goto out;
	nl = tsn_get_be16(plain + 2);
	n = 4;
	if (plen != n + nl + 8 + TSN_ID_LEN + TSN_KEY_LEN || !name_ok((const char *)plain + n, nl))
		goto out;
	memset(out, 0, sizeof(*out));
	out->flags = plain[1];
	memcpy(out->name, plain + n, nl);
	n += nl;
	out->uri.size = tsn_get_be64(plain + n);
	n += 8;
	if (out->uri.size > TSN_FILE_MAX)
		goto out;
	memcpy(out->uri.id, plain + n, TSN_ID_LEN);
	memcpy(out->uri.key, plain + n + TSN_ID_LEN, TSN_KEY_LEN);
	rc = 0;
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(plain, sizeof(plain));
	return rc;
}

void
tsn_kw_salt(const struct tsn_uri *uri, const char *name, uint8_t salt[TSN_KW_SALT_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, TSN_KW_SALT_LEN);
	crypto_generichash_update(&st, uri->id, TSN_ID_LEN);
	crypto_generichash_update(&st, (const uint8_t *)name, strlen(name));
	crypto_generichash_final(&st, salt, TSN_KW_SALT_LEN);
}

void
tsn_kw_signing_key(const uint8_t secret[32], const uint8_t salt[TSN_KW_SALT_LEN],
                   uint8_t pk[32], uint8_t sk[64])
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	crypto_generichash(seed, sizeof(seed), salt, TSN_KW_SALT_LEN, secret, 32);
	crypto_sign_seed_keypair(pk, sk, seed);
	sodium_memzero(seed, sizeof(seed));
}
