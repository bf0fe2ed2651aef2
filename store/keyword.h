/*
 * keyword.h: the words a file is found by, and the encrypted entry a
 * keyword record carries (docs/formats.md "Keyword entry").
 *
 * Words come from the file's name: UTF-8, lower-cased with Unicode simple
 * case folding (plus final sigma -> sigma), split at every character that is
 * not a letter or digit (spaces, punctuation, the dot before the extension,
 * invalid UTF-8), words under TSN_KW_MIN characters dropped, duplicates
 * dropped. The extension is split off like any word, so it is a keyword too.
 *
 * Each word has an Ed25519 key pair derived from the word alone (seed =
 * BLAKE2b-256("tsn/kwsign/" | word)); the DHT key of the word is
 * BLAKE2b-256("tsn/kw/" | word public key). A storing node checks that a
 * record's key is the hash of its signer's public key and the signature,
 * so only someone who knows the word can store under it, yet the storer
 * never learns the word. The entry inside a record (name, size, URI) is
 * sealed with XChaCha20-Poly1305 under a key derived from the word alone,
 * so a node that stores it cannot read it without the word. The record
 * layout (slot key, slot signature) is net/record.h's.
 *
 * Pure functions; thread-safe (the C.UTF-8 locale object is made once).
 */
#ifndef TSN_KEYWORD_H
#define TSN_KEYWORD_H

#include <stddef.h>
#include <stdint.h>

#include "uri.h"

#define TSN_KW_MIN 2           /* shortest word kept, in characters */
#define TSN_KW_MAX_LEN 64      /* longest word kept, in bytes (longer: cut at a character) */
#define TSN_KW_MAX 32          /* words per file */
#define TSN_KW_NAME_MAX 255    /* bytes of a file name in an entry */
#define TSN_KW_ENTRY_VERSION 1
#define TSN_KW_NONCE_LEN 24
#define TSN_KW_TAG_LEN 16
#define TSN_KW_SALT_LEN 16
/* Largest sealed entry: nonce | (version, flags, u16 name len, name, u64 size, id, key) | tag */
#define TSN_KW_ENTRY_MAX (TSN_KW_NONCE_LEN + 4 + TSN_KW_NAME_MAX + 8 + 64 + TSN_KW_TAG_LEN)

/* Entry flags. */
#define TSN_KW_WITHDRAWN 0x01u /* a tombstone: the owner stopped sharing this file */

struct tsn_keywords {
	size_t n;
	char w[TSN_KW_MAX][TSN_KW_MAX_LEN + 1]; /* NUL-terminated UTF-8 */
};

/*
 * Add the words of text (len bytes, UTF-8) to kw, skipping words already
 * there; words past TSN_KW_MAX are dropped. Returns the number of words kw
 * holds.
 */
size_t tsn_keywords_add(struct tsn_keywords *kw, const char *text, size_t len);
/* kw = the words of a file name (kw is cleared first). Returns kw->n. */
size_t tsn_keywords_from_name(struct tsn_keywords *kw, const char *name, size_t len);
/*
 * Normalise one search word the same way (lower-case; the word must be a
 * single word of TSN_KW_MIN characters or more). Returns 0 and fills out
 * (TSN_KW_MAX_LEN + 1 bytes), or -EINVAL (no word, several words, too short).
 */
int tsn_keyword_normalize(const char *word, size_t len, char out[TSN_KW_MAX_LEN + 1]);

/* The word's key pair: seed BLAKE2b-256("tsn/kwsign/" | word). Wipe sk after use. */
void tsn_kw_word_keys(const char *word, uint8_t pk[32], uint8_t sk[64]);
/* DHT key of a word whose public key is pk: BLAKE2b-256("tsn/kw/" | pk). */
void tsn_kw_key_of_pk(const uint8_t pk[32], uint8_t key[TSN_ID_LEN]);
/* DHT key of a (normalised) word: tsn_kw_key_of_pk(the word's public key). */
void tsn_keyword_key(const char *word, uint8_t key[TSN_ID_LEN]);

struct tsn_kw_entry {
	uint8_t flags;                    /* TSN_KW_* */
	struct tsn_uri uri;
	char name[TSN_KW_NAME_MAX + 1];   /* NUL-terminated */
};

/*
 * Seal e for `word` with the given random nonce into out (cap >=
 * TSN_KW_ENTRY_MAX). Returns the sealed length, or -EINVAL (name too long
 * or empty, or containing '/' or NUL).
 */
long tsn_kw_entry_seal(const char *word, const struct tsn_kw_entry *e,
                       const uint8_t nonce[TSN_KW_NONCE_LEN], uint8_t *out, size_t cap);
/*
 * Open a sealed entry with `word`. Checks the tag before reading any field,
 * then every length, the version, the flags and the name (non-empty, no
 * '/', no NUL, not "." or ".."). Returns 0 or -EBADMSG (wrong word,
 * tampered, malformed), -EPROTO (unknown version).
 */
int tsn_kw_entry_open(const char *word, const uint8_t *in, size_t len, struct tsn_kw_entry *out);

/*
 * The slot id of a file shared under a name: BLAKE2b-128(root id | name).
 * Input of tsn_kw_signing_key: one entry per (publisher, content, name):
 * the same content under two names is two entries; a withdrawal reuses the
 * slot with a higher seq.
 */
void tsn_kw_salt(const struct tsn_uri *uri, const char *name, uint8_t salt[TSN_KW_SALT_LEN]);
/*
 * The Ed25519 key pair that signs a file's keyword records, derived from
 * the publisher's secret and the slot: records of different files cannot be
 * linked to one publisher, and the publisher can derive it again to
 * republish or withdraw. sk is 64 bytes (libsodium form); wipe it after use.
 */
void tsn_kw_signing_key(const uint8_t secret[32], const uint8_t salt[TSN_KW_SALT_LEN],
                        uint8_t pk[32], uint8_t sk[64]);

/* A record's salt for the slot key slot_pk: BLAKE2b-128(slot_pk). */
void tsn_kw_slot_salt(const uint8_t slot_pk[32], uint8_t salt[TSN_KW_SALT_LEN]);

#endif
