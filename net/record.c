/* record.c: record codec, signing and verification. */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "cursor_i.h"
#include "keyword.h"
#include "record.h"

bool
tsn_record_is_signed(uint8_t type)
{
	return type == TSN_REC_MUTABLE || type == TSN_REC_KEYWORD;
}

static bool
known_type(uint8_t type)
{
	return type == TSN_REC_IMMUTABLE || type == TSN_REC_MUTABLE || type == TSN_REC_KEYWORD;
}

int
tsn_record_immutable(struct tsn_record *r, const void *value, size_t len, uint64_t expiry_ms)
{
	if (len > TSN_REC_VALUE_MAX)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->version = TSN_REC_VERSION;
	r->type = TSN_REC_IMMUTABLE;
	r->expiry_ms = expiry_ms;
	r->value_len = (uint16_t)len;
	if (len > 0)
		memcpy(r->value, value, len);
	crypto_generichash(r->key, TSN_ID_LEN, r->value, len, NULL, 0);
	return 0;
}

void
tsn_record_mutable_key(uint8_t key[TSN_ID_LEN], const uint8_t pubkey[TSN_REC_PK_LEN],
                       const void *salt, size_t salt_len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, TSN_ID_LEN);
	crypto_generichash_update(&st, pubkey, TSN_REC_PK_LEN);
	if (salt_len > 0)
		crypto_generichash_update(&st, salt, salt_len);
	crypto_generichash_final(&st, key, TSN_ID_LEN);
}

size_t
tsn_record_encoded_len(const struct tsn_record *r)
{
	size_t n = TSN_REC_FIXED_LEN + (size_t)r->salt_len + (size_t)r->value_len;

	if (tsn_record_is_signed(r->type))
		n += TSN_REC_PK_LEN + TSN_REC_SIG_LEN;
	return n;
}

/* Everything before the signature: the signed bytes of a signed record. */
static int
encode_body(const struct tsn_record *r, struct wcur *w)
{
	if (r->version != TSN_REC_VERSION || !known_type(r->type) ||
	    r->salt_len > TSN_REC_SALT_MAX || r->value_len > TSN_REC_VALUE_MAX ||
	    (r->type == TSN_REC_IMMUTABLE && r->salt_len != 0))
		return -EINVAL;
	wcur_u8(w, r->version);
	wcur_u8(w, r->type);
	wcur_bytes(w, r->key, TSN_ID_LEN);
	wcur_u64(w, r->seq);
	wcur_u64(w, r->expiry_ms);
	wcur_u8(w, r->salt_len);
	wcur_bytes(w, r->salt, r->salt_len);
	wcur_u16(w, r->value_len);
	wcur_bytes(w, r->value, r->value_len);
	if (tsn_record_is_signed(r->type))
		wcur_bytes(w, r->pubkey, TSN_REC_PK_LEN);
	return w->err;
}

int
tsn_record_encode(const struct tsn_record *r, uint8_t *buf, size_t cap)
{
	struct wcur w;
	int rc;

	wcur_init(&w, buf, cap);
	rc = encode_body(r, &w);
	if (rc != 0)
		return rc;
	if (tsn_record_is_signed(r->type))
		wcur_bytes(&w, r->sig, TSN_REC_SIG_LEN);
	return w.err != 0 ? w.err : (int)w.len;
}

int
tsn_record_sign(struct tsn_record *r, const uint8_t sk[TSN_REC_SK_LEN])
{
	uint8_t buf[TSN_REC_MAX_LEN];
	struct wcur w;
	int rc;

	if (!tsn_record_is_signed(r->type))
		return -EINVAL;
	/* libsodium's secret key ends with the public key. */
	memcpy(r->pubkey, sk + 32, TSN_REC_PK_LEN);
	if (r->type == TSN_REC_MUTABLE)
		tsn_record_mutable_key(r->key, r->pubkey, r->salt, r->salt_len);
	wcur_init(&w, buf, sizeof(buf));
	rc = encode_body(r, &w);
	if (rc != 0)
		return rc;
	crypto_sign_detached(r->sig, NULL, buf, w.len, sk);
	sodium_memzero(buf, sizeof(buf));
	return 0;
}

/* What slot_sig covers: key | salt | u64 seq | u64 expiry | sealed. */
static size_t
slot_msg(const struct tsn_record *r, uint8_t *buf, size_t cap)
{
	struct wcur w;

	wcur_init(&w, buf, cap);
	wcur_bytes(&w, r->key, TSN_ID_LEN);
	wcur_bytes(&w, r->salt, r->salt_len);
	wcur_u64(&w, r->seq);
	wcur_u64(&w, r->expiry_ms);
	wcur_bytes(&w, r->value + TSN_REC_KW_SLOT_LEN, r->value_len - TSN_REC_KW_SLOT_LEN);
	return w.err != 0 ? 0 : w.len;
}

int
tsn_record_keyword(struct tsn_record *r, const uint8_t word_sk[TSN_REC_SK_LEN],
                   const uint8_t slot_sk[TSN_REC_SK_LEN], const void *sealed, size_t len,
                   uint64_t seq, uint64_t expiry_ms)
{
	uint8_t buf[TSN_REC_MAX_LEN];
	size_t n;

	if (len == 0 || len > TSN_REC_VALUE_MAX - TSN_REC_KW_SLOT_LEN)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->version = TSN_REC_VERSION;
	r->type = TSN_REC_KEYWORD;
	tsn_kw_key_of_pk(word_sk + 32, r->key);
	r->seq = seq;
	r->expiry_ms = expiry_ms;
	r->salt_len = TSN_KW_SALT_LEN;
	tsn_kw_slot_salt(slot_sk + 32, r->salt);
	r->value_len = (uint16_t)(TSN_REC_KW_SLOT_LEN + len);
	memcpy(r->value, slot_sk + 32, 32);
	memcpy(r->value + TSN_REC_KW_SLOT_LEN, sealed, len);
	if ((n = slot_msg(r, buf, sizeof(buf))) == 0)
		return -EINVAL;
	crypto_sign_detached(r->value + 32, NULL, buf, n, slot_sk);
	return tsn_record_sign(r, word_sk);
}

/* The keyword rules beyond the outer signature (record.h). */
static int
verify_keyword(const struct tsn_record *r)
{
	uint8_t buf[TSN_REC_MAX_LEN], h[TSN_ID_LEN];
	size_t n;

	if (r->salt_len != TSN_KW_SALT_LEN || r->value_len <= TSN_REC_KW_SLOT_LEN)
		return -EBADMSG;
	tsn_kw_key_of_pk(r->pubkey, h);
	if (sodium_memcmp(h, r->key, TSN_ID_LEN) != 0)
		return -EBADMSG;
	tsn_kw_slot_salt(r->value, h);
	if (sodium_memcmp(h, r->salt, TSN_KW_SALT_LEN) != 0)
		return -EBADMSG;
	if ((n = slot_msg(r, buf, sizeof(buf))) == 0 ||
	    crypto_sign_verify_detached(r->value + 32, buf, n, r->value) != 0)
		return -EBADMSG;
	return 0;
}

int
tsn_record_signed(struct tsn_record *r, uint8_t type, const uint8_t sk[TSN_REC_SK_LEN],
                  const uint8_t key[TSN_ID_LEN], const void *salt, size_t salt_len,
                  const void *value, size_t len, uint64_t seq, uint64_t expiry_ms)
{
	if (!tsn_record_is_signed(type) || salt_len > TSN_REC_SALT_MAX || len > TSN_REC_VALUE_MAX ||
	    (type == TSN_REC_KEYWORD && key == NULL))
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->version = TSN_REC_VERSION;
	r->type = type;
	if (type == TSN_REC_KEYWORD)
		memcpy(r->key, key, TSN_ID_LEN);
	r->seq = seq;
	r->expiry_ms = expiry_ms;
	r->salt_len = (uint8_t)salt_len;
	if (salt_len > 0)
		memcpy(r->salt, salt, salt_len);
	r->value_len = (uint16_t)len;
	if (len > 0)
		memcpy(r->value, value, len);
	return tsn_record_sign(r, sk);
}

int
tsn_record_decode(const uint8_t *buf, size_t len, struct tsn_record *r, size_t *used)
{
	struct rcur c;

	*used = 0;
	if (len < 2)
		return -EBADMSG;
	if (buf[0] != TSN_REC_VERSION || !known_type(buf[1]))
		return -EPROTONOSUPPORT;
	rcur_init(&c, buf, len);
	r->version = rcur_u8(&c);
	r->type = rcur_u8(&c);
	rcur_bytes(&c, r->key, TSN_ID_LEN);
	r->seq = rcur_u64(&c);
	r->expiry_ms = rcur_u64(&c);
	r->salt_len = rcur_u8(&c);
	if (c.err != 0 || r->salt_len > TSN_REC_SALT_MAX ||
	    (r->type == TSN_REC_IMMUTABLE && r->salt_len != 0))
		return -EBADMSG;
	rcur_bytes(&c, r->salt, r->salt_len);
	r->value_len = rcur_u16(&c);
	if (c.err != 0 || r->value_len > TSN_REC_VALUE_MAX)
		return -EBADMSG;
	rcur_bytes(&c, r->value, r->value_len);
	if (tsn_record_is_signed(r->type)) {
		rcur_bytes(&c, r->pubkey, TSN_REC_PK_LEN);
		rcur_bytes(&c, r->sig, TSN_REC_SIG_LEN);
	} else {
		memset(r->pubkey, 0, TSN_REC_PK_LEN);
		memset(r->sig, 0, TSN_REC_SIG_LEN);
	}
	if (c.err != 0)
		return -EBADMSG;
	*used = len - c.left;
	return 0;
}

int
tsn_record_verify(const struct tsn_record *r)
{
	uint8_t buf[TSN_REC_MAX_LEN], h[TSN_ID_LEN];
	struct wcur w;

	wcur_init(&w, buf, sizeof(buf));
	if (encode_body(r, &w) != 0)
		return -EBADMSG;
	switch (r->type) {
	case TSN_REC_IMMUTABLE:
		crypto_generichash(h, TSN_ID_LEN, r->value, r->value_len, NULL, 0);
		return sodium_memcmp(h, r->key, TSN_ID_LEN) == 0 ? 0 : -EBADMSG;
	case TSN_REC_MUTABLE:
		tsn_record_mutable_key(h, r->pubkey, r->salt, r->salt_len);
		if (sodium_memcmp(h, r->key, TSN_ID_LEN) != 0)
			return -EBADMSG;
		break;
	case TSN_REC_KEYWORD:
		if (verify_keyword(r) != 0)
			return -EBADMSG;
		break;
	default:
		return -EBADMSG;
	}
	return crypto_sign_verify_detached(r->sig, buf, w.len, r->pubkey) == 0 ? 0 : -EBADMSG;
}

bool
tsn_record_same_slot(const struct tsn_record *a, const struct tsn_record *b)
{
	if (a->type != b->type || memcmp(a->key, b->key, TSN_ID_LEN) != 0)
		return false;
	if (!tsn_record_is_signed(a->type))
		return true;
	return memcmp(a->pubkey, b->pubkey, TSN_REC_PK_LEN) == 0 && a->salt_len == b->salt_len &&
	       memcmp(a->salt, b->salt, a->salt_len) == 0;
}
