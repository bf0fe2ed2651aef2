/*
 * record.h: DHT records and the in-memory record store a node holds for the
 * network.
 *
 * A record is a small value (at most TSN_REC_VALUE_MAX bytes, so one record
 * always fits one datagram) stored under a 256-bit key. Encoding, all
 * integers big-endian (docs/protocol.md, "Records"):
 *
 *   u8 version (1) | u8 type | key[32] | u64 seq | u64 expiry_ms |
 *   u8 salt_len | salt[salt_len] | u16 value_len | value[value_len] |
 *   (signed types only) pubkey[32] | sig[64]
 *
 * sig is Ed25519 over every byte before it (pubkey included). Types:
 *
 *   TSN_REC_IMMUTABLE  content record: key = BLAKE2b-256(value), no salt,
 *                      no signature. Anyone may store it; it cannot be forged.
 *   TSN_REC_MUTABLE    key = BLAKE2b-256(pubkey | salt), signed. One per key;
 *                      a node keeps the highest validly signed seq.
 *   TSN_REC_KEYWORD    signed by the word's key pair (store/keyword.h):
 *                      key = BLAKE2b-256("tsn/kw/" | pubkey). value =
 *                      slot_pk[32] | slot_sig[64] | sealed entry (>= 1
 *                      byte), salt = BLAKE2b-128(slot_pk) (16 bytes),
 *                      slot_sig = Ed25519 by the slot key over key | salt |
 *                      u64 seq | u64 expiry_ms | sealed. Many entries per
 *                      key, one per salt (so per slot owner), each keeping
 *                      its highest seq: only the slot's owner can replace
 *                      or withdraw it, only who knows the word can store.
 *
 * expiry_ms is absolute (Unix time in ms) and signed, so nobody but the
 * signer can extend it; owners republish with a higher seq.
 *
 * Threads: a struct tsn_recstore has one owner (no locking inside); the
 * codec functions are pure. Ownership: every function copies what it keeps.
 */
#ifndef TSN_NET_RECORD_H
#define TSN_NET_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "id.h"

#define TSN_REC_VERSION 1
#define TSN_REC_VALUE_MAX 900
#define TSN_REC_SALT_MAX 64
#define TSN_REC_PK_LEN 32
#define TSN_REC_SIG_LEN 64
#define TSN_REC_SK_LEN 64
/* Fixed part: version, type, key, seq, expiry, salt_len, value_len. */
#define TSN_REC_FIXED_LEN 53
#define TSN_REC_MAX_LEN (TSN_REC_FIXED_LEN + TSN_REC_SALT_MAX + TSN_REC_VALUE_MAX + \
                         TSN_REC_PK_LEN + TSN_REC_SIG_LEN)

enum tsn_rec_type {
	TSN_REC_IMMUTABLE = 1,
	TSN_REC_MUTABLE = 2,
	TSN_REC_KEYWORD = 3,
};

struct tsn_record {
	uint8_t version;                 /* TSN_REC_VERSION */
	uint8_t type;                    /* enum tsn_rec_type */
	uint8_t key[TSN_ID_LEN];
	uint64_t seq;
	uint64_t expiry_ms;              /* absolute, Unix ms */
	uint8_t salt_len;                /* <= TSN_REC_SALT_MAX; 0 for immutable */
	uint8_t salt[TSN_REC_SALT_MAX];
	uint16_t value_len;              /* <= TSN_REC_VALUE_MAX */
	uint8_t value[TSN_REC_VALUE_MAX];
	uint8_t pubkey[TSN_REC_PK_LEN];  /* signed types only */
	uint8_t sig[TSN_REC_SIG_LEN];    /* signed types only */
};

/* True for types that carry pubkey and signature. */
bool tsn_record_is_signed(uint8_t type);

/*
 * Build an immutable record: key = BLAKE2b-256(value), seq 0.
 * Returns 0 or -EINVAL (len > TSN_REC_VALUE_MAX).
 */
int tsn_record_immutable(struct tsn_record *r, const void *value, size_t len,
                         uint64_t expiry_ms);
/* key = BLAKE2b-256(pubkey | salt) into key. salt_len <= TSN_REC_SALT_MAX. */
void tsn_record_mutable_key(uint8_t key[TSN_ID_LEN], const uint8_t pubkey[TSN_REC_PK_LEN],
                            const void *salt, size_t salt_len);
/*
 * Build and sign a mutable (key computed) or keyword (key given in `key`;
 * ignored for mutable) record with secret key sk (libsodium's 64-byte
 * Ed25519 secret key; borrowed, not kept). Returns 0 or -EINVAL (a length
 * over its maximum, a bad type).
 */
int tsn_record_signed(struct tsn_record *r, uint8_t type, const uint8_t sk[TSN_REC_SK_LEN],
                      const uint8_t key[TSN_ID_LEN], const void *salt, size_t salt_len,
                      const void *value, size_t len, uint64_t seq, uint64_t expiry_ms);
#define TSN_REC_KW_SLOT_LEN 96 /* slot_pk | slot_sig at the front of a keyword value */
/*
 * Build a keyword record: word_sk the word's secret key (tsn_kw_word_keys),
 * slot_sk the owner's slot key (tsn_kw_signing_key), sealed the sealed
 * entry (1..TSN_REC_VALUE_MAX - 96 bytes). Keys borrowed, not kept.
 * Returns 0 or -EINVAL.
 */
int tsn_record_keyword(struct tsn_record *r, const uint8_t word_sk[TSN_REC_SK_LEN],
                       const uint8_t slot_sk[TSN_REC_SK_LEN], const void *sealed, size_t len,
                       uint64_t seq, uint64_t expiry_ms);
/* (Re)compute pubkey and sig of a signed record after changing fields. */
int tsn_record_sign(struct tsn_record *r, const uint8_t sk[TSN_REC_SK_LEN]);

/* Encoded size of r (no checks beyond the lengths). */
size_t tsn_record_encoded_len(const struct tsn_record *r);
/*
 * Encode r into buf (cap bytes). Returns the length, -EINVAL (a field over
 * its maximum, an unknown type) or -ENOSPC (cap too small).
 */
int tsn_record_encode(const struct tsn_record *r, uint8_t *buf, size_t cap);
/*
 * Decode one record from the front of buf (len bytes; trailing bytes are
 * the caller's business: *used says how many were consumed). Structure only;
 * the signature and key binding are checked by tsn_record_verify.
 * Returns 0, -EPROTONOSUPPORT (version or type unknown; *used is 0) or
 * -EBADMSG (truncated, a length over its maximum, salt on an immutable
 * record). On failure *r is unspecified.
 */
int tsn_record_decode(const uint8_t *buf, size_t len, struct tsn_record *r, size_t *used);
/*
 * Authenticate r: key binding (immutable: hash of value; mutable: hash of
 * pubkey and salt; keyword: hash of pubkey, salt = hash of slot_pk, and the
 * slot signature) and, for signed types, the Ed25519 signature.
 * Returns 0 or -EBADMSG. Cost: one BLAKE2b and one Ed25519 verify (~50 us;
 * keyword: two of each).
 */
int tsn_record_verify(const struct tsn_record *r);
/*
 * True when a and b are versions of the same record: same key and type,
 * and for signed types the same signer and salt.
 */
bool tsn_record_same_slot(const struct tsn_record *a, const struct tsn_record *b);

/* ---- record store ---- */

struct tsn_recstore;

struct tsn_recstore_opts {
	size_t max_records;        /* all keys; default 65536 */
	size_t max_bytes;          /* encoded bytes, all keys; default 32 MiB */
	size_t max_per_key;        /* records under one key; default 64 */
	size_t max_bytes_per_key;  /* encoded bytes under one key; default 64 KiB */
	size_t kw_per_key;         /* keyword records under one key; default 256 */
	size_t kw_bytes_per_key;   /* their encoded bytes; default 128 KiB */
	uint64_t max_ttl_ms;       /* refuse expiry beyond now + this; default 24 h */
};
void tsn_recstore_opts_default(struct tsn_recstore_opts *o);

/* An encoded record inside the store (borrowed, see tsn_recstore_get). */
struct tsn_blob {
	const uint8_t *p;
	size_t len;
};

/*
 * Create an empty store. o NULL means defaults; zero fields take defaults.
 * Returns 0 or -ENOMEM (*out NULL).
 */
int tsn_recstore_new(struct tsn_recstore **out, const struct tsn_recstore_opts *o);
/* Free the store and its records; NULL is a no-op. */
void tsn_recstore_free(struct tsn_recstore *rs);

/*
 * Verify and store a copy of r. Returns 0 when stored, replaced or already
 * held; -EBADMSG (bad signature or key binding, malformed), -ETIMEDOUT
 * (already expired at now_ms), -ERANGE (expiry beyond now + max_ttl),
 * -ESTALE (a version with this seq or higher is held: a lower seq, or the
 * same seq with other bytes), -ENOSPC (a limit is reached even after
 * dropping expired records; held records are never evicted for newcomers,
 * so a flood cannot push out what is already stored), -ENOMEM.
 * Keyword records are the exception, under their own per-key limits
 * (kw_per_key, kw_bytes_per_key): a new keyword entry for a full key
 * evicts that key's keyword records with the earliest expiry first (ties:
 * the earliest inserted), since owners republish live entries with a fresh
 * expiry; the total limits still refuse (the eviction then stays done).
 * A failed call changes nothing. Cost: one verify, O(log keys + per key),
 * plus O(records) when a total limit forces a sweep of expired records.
 */
int tsn_recstore_put(struct tsn_recstore *rs, uint64_t now_ms, const struct tsn_record *r);
/*
 * Records under key, from index `start` on, in insertion order: drops the
 * key's expired records first, then fills out[] with up to max borrowed
 * views valid until the next call that changes the store. *total gets the
 * number of live records under key. Returns the number written.
 */
size_t tsn_recstore_get(struct tsn_recstore *rs, uint64_t now_ms, const uint8_t key[TSN_ID_LEN],
                        size_t start, struct tsn_blob *out, size_t max, size_t *total);
/* Drop every record expired at now_ms. Returns how many. Cost: O(records). */
size_t tsn_recstore_expire(struct tsn_recstore *rs, uint64_t now_ms);
/* Counts of records, encoded bytes and keys held. */
size_t tsn_recstore_count(const struct tsn_recstore *rs);
size_t tsn_recstore_bytes(const struct tsn_recstore *rs);
size_t tsn_recstore_keys(const struct tsn_recstore *rs);
/*
 * The first key held after `after` in key order (NULL: the first key) into
 * out. Returns false when there is none. A walk by this cursor sees every
 * key held throughout it once, whatever is stored or dropped meanwhile;
 * out may be after.
 * Cost: O(log keys).
 */
bool tsn_recstore_next_key(const struct tsn_recstore *rs, const uint8_t *after,
                           uint8_t out[TSN_ID_LEN]);

#endif
