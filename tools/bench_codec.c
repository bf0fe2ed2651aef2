/*
 * bench_codec.c: how fast the chunk codec encodes and decodes, next to the
 * speed of each primitive alone, measured in the same run.
 *
 * For each kind of data (incompressible random, text-like) it prints:
 *   - BLAKE2b-256, XChaCha20-Poly1305 (encrypt, decrypt), zstd level 1
 *     (compress, decompress), memcpy, each on 256 KiB buffers;
 *   - encode and decode through tsn_codec_* with 1 thread and with every core;
 *   - the stage limit: the speed the pipeline would have if it did nothing
 *     but its stages back to back, 1 / sum(bytes_i / speed_i), where bytes_i
 *     is what stage i touches per input byte (the compressed size for the
 *     stages after compression), and the pipeline's ratio to it.
 * Usage: bench-codec [SECONDS_PER_FIGURE]   (default 1)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zstd.h>

#include "block.h"

#define CHUNK TSN_CHUNK_MAX
#define NCHUNKS 64 /* 16 MiB of input per kind */

static double secs_per_figure = 1.0;

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t
rng(void)
{
	/* splitmix64: reproducible data from run to run */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void
fill_random(uint8_t *p, size_t n)
{
	randombytes_buf(p, n);
}

/* Text-like: words from a small vocabulary with Zipf-ish weights, lines. */
static void
fill_text(uint8_t *p, size_t n)
{
	static const char *words[] = {
		"the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as",
		"was", "with", "be", "by", "on", "not", "he", "this", "are", "or", "his",
		"from", "at", "which", "but", "have", "an", "had", "they", "you", "were",
		"network", "chunk", "terra", "pins", "river", "mountain", "music", "share",
		"record", "station", "garden", "winter", "summer", "letter", "number",
		"system", "program", "question", "government", "company", "different",
	};
	size_t nw = sizeof(words) / sizeof(words[0]), i = 0, col = 0;

	while (i < n) {
		uint64_t r = rng();
		size_t w = (size_t)((r % nw) * ((r >> 32) % nw) / nw); /* skewed to the start */
		const char *s = words[w];
		size_t l = strlen(s);
		for (size_t j = 0; j < l && i < n; j++)
			p[i++] = (uint8_t)s[j];
		col += l + 1;
		if (i < n)
			p[i++] = (uint8_t)(col > 70 ? '\n' : ' ');
		if (col > 70)
			col = 0;
	}
}

/* ---- primitives alone ---- */

typedef void (*prim_fn)(uint8_t *in, uint8_t *out, size_t n, void *ctx);

static void
p_blake(uint8_t *in, uint8_t *out, size_t n, void *ctx)
{
	(void)ctx;
	crypto_generichash(out, 32, in, n, NULL, 0);
}

static void
p_aead_enc(uint8_t *in, uint8_t *out, size_t n, void *ctx)
{
	static const uint8_t key[32], nonce[24];
	(void)ctx;
	crypto_aead_xchacha20poly1305_ietf_encrypt_detached(in, out, NULL, in, n, NULL, 0,
	                                                    NULL, nonce, key);
}

static void
p_memcpy(uint8_t *in, uint8_t *out, size_t n, void *ctx)
{
	(void)ctx;
	memcpy(out, in, n);
}

static void
p_zstd_c(uint8_t *in, uint8_t *out, size_t n, void *ctx)
{
	ZSTD_compressCCtx(ctx, out, ZSTD_compressBound(CHUNK), in, n, TSN_ZSTD_LEVEL);
}

struct dctx_arg {
	ZSTD_DCtx *d;
	uint8_t *frames[NCHUNKS];
	size_t lens[NCHUNKS];
	unsigned i;
};

static void
p_zstd_d(uint8_t *in, uint8_t *out, size_t n, void *ctx)
{
	struct dctx_arg *a = ctx;
	unsigned i = a->i++ % NCHUNKS;
	(void)in;
	ZSTD_decompressDCtx(a->d, out, n, a->frames[i], a->lens[i]);
}

/* MB/s of fn over the data, chunk by chunk, for about secs_per_figure. */
static double
measure(prim_fn fn, uint8_t *data, void *ctx)
{
	uint8_t *out = malloc(ZSTD_compressBound(CHUNK) + 64);
	double t0 = now_s(), t;
	uint64_t bytes = 0;

	do {
		for (int i = 0; i < NCHUNKS; i++) {
			fn(data + (size_t)i * CHUNK, out, CHUNK, ctx);
			bytes += CHUNK;
		}
		t = now_s() - t0;
	} while (t < secs_per_figure);
	free(out);
	return (double)bytes / t / 1e6;
}

/* ---- the codec, on n threads ---- */

struct job {
	uint8_t *data;
	int decode;
	uint8_t *blocks; /* NCHUNKS * TSN_BLOCK_MAX: encoded blocks, for decode */
	size_t blens[NCHUNKS];
	struct tsn_chunk_ref refs[NCHUNKS];
	uint64_t bytes;
	double busy; /* seconds spent inside the codec */
};

static void *
run_job(void *arg)
{
	struct job *j = arg;
	struct tsn_codec *c = tsn_codec_new();
	uint8_t *out = malloc(TSN_BLOCK_MAX), *work = malloc(TSN_BLOCK_MAX);
	double t0 = now_s();

	if (c == NULL || out == NULL || work == NULL)
		abort();
	do {
		for (int i = 0; i < NCHUNKS; i++) {
			double a, b;
			if (j->decode) {
				memcpy(work, j->blocks + (size_t)i * TSN_BLOCK_MAX, j->blens[i]);
				a = now_s();
				if (tsn_codec_decode(c, &j->refs[i], TSN_BLOCK_DATA, work, j->blens[i],
				                     out, TSN_BLOCK_MAX, NULL) != CHUNK)
					abort();
			} else {
				a = now_s();
				if (tsn_codec_encode(c, &tsn_secret_public, TSN_BLOCK_DATA,
				                     j->data + (size_t)i * CHUNK, CHUNK, out, &j->refs[i]) <= 0)
					abort();
			}
			b = now_s();
			j->busy += b - a;
			j->bytes += CHUNK;
		}
	} while (now_s() - t0 < secs_per_figure);
	free(out);
	free(work);
	tsn_codec_free(c);
	return NULL;
}

/* Aggregate MB/s of n threads, each encoding (or decoding) the data. */
static double
codec_speed(uint8_t *data, uint8_t *blocks, size_t *blens, struct tsn_chunk_ref *refs,
            int decode, int n)
{
	struct job *jobs = calloc((size_t)n, sizeof(*jobs));
	pthread_t th[64];
	double total = 0;

	for (int i = 0; i < n; i++) {
		jobs[i].data = data;
		jobs[i].decode = decode;
		jobs[i].blocks = blocks;
		memcpy(jobs[i].blens, blens, sizeof(jobs[i].blens));
		memcpy(jobs[i].refs, refs, sizeof(jobs[i].refs));
		pthread_create(&th[i], NULL, run_job, &jobs[i]);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		total += (double)jobs[i].bytes / jobs[i].busy / 1e6;
	}
	free(jobs);
	return total;
}

static void
bench_kind(const char *name, void (*fill)(uint8_t *, size_t), int ncores)
{
	uint8_t *data = malloc((size_t)NCHUNKS * CHUNK);
	uint8_t *blocks = malloc((size_t)NCHUNKS * TSN_BLOCK_MAX);
	size_t blens[NCHUNKS], zbytes = 0;
	struct tsn_chunk_ref refs[NCHUNKS];
	struct tsn_codec *c = tsn_codec_new();
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	struct dctx_arg da = {.d = ZSTD_createDCtx()};
	double blake, aead, zc, zd, cpy, r, enc1, encn, dec1, decn, lim_enc, lim_dec;
	int compressed = 0;

	fill(data, (size_t)NCHUNKS * CHUNK);
	for (int i = 0; i < NCHUNKS; i++) {
		long n = tsn_codec_encode(c, &tsn_secret_public, TSN_BLOCK_DATA,
		                          data + (size_t)i * CHUNK, CHUNK,
		                          blocks + (size_t)i * TSN_BLOCK_MAX, &refs[i]);
		if (n <= 0)
			abort();
		blens[i] = (size_t)n;
		zbytes += (size_t)n;
		da.frames[i] = malloc(ZSTD_compressBound(CHUNK));
		da.lens[i] = ZSTD_compressCCtx(cc, da.frames[i], ZSTD_compressBound(CHUNK),
		                               data + (size_t)i * CHUNK, CHUNK, TSN_ZSTD_LEVEL);
	}
	/* r: block bytes per input byte, what the stages after compression touch. */
	r = (double)zbytes / ((double)NCHUNKS * CHUNK);
	compressed = r < 15.0 / 16;

	blake = measure(p_blake, data, NULL);
	aead = measure(p_aead_enc, data, NULL);
	zc = measure(p_zstd_c, data, cc);
	zd = measure(p_zstd_d, data, &da);
	cpy = measure(p_memcpy, data, NULL);

	enc1 = codec_speed(data, blocks, blens, refs, 0, 1);
	encn = codec_speed(data, blocks, blens, refs, 0, ncores);
	dec1 = codec_speed(data, blocks, blens, refs, 1, 1);
	decn = codec_speed(data, blocks, blens, refs, 1, ncores);

	/* encode: hash P, compress P, encrypt r, hash r (+ copy P when raw) */
	lim_enc = 1.0 / (1.0 / blake + 1.0 / zc + r / aead + r / blake +
	                 (compressed ? 0 : 1.0 / cpy));
	/* decode: hash r, decrypt r, then decompress into or copy to the output */
	lim_dec = 1.0 / (r / blake + r / aead + (compressed ? 1.0 / zd : 1.0 / cpy));

	printf("\n== %s data (blocks are %.1f%% of the input, %s) ==\n", name, r * 100,
	       compressed ? "compressed" : "stored raw");
	printf("  primitives, 1 thread, 256 KiB buffers:\n");
	printf("    BLAKE2b-256                 %8.0f MB/s\n", blake);
	printf("    XChaCha20-Poly1305          %8.0f MB/s\n", aead);
	printf("    zstd -%d compress            %8.0f MB/s\n", TSN_ZSTD_LEVEL, zc);
	printf("    zstd decompress             %8.0f MB/s (of output)\n", zd);
	printf("    memcpy                      %8.0f MB/s\n", cpy);
	printf("  pipeline (MB/s of plaintext):\n");
	printf("    encode  1 thread  %8.0f   stage limit %6.0f   ratio %3.0f%%\n",
	       enc1, lim_enc, 100 * enc1 / lim_enc);
	printf("    encode %2d threads %8.0f   scaling x%.2f\n", ncores, encn, encn / enc1);
	printf("    decode  1 thread  %8.0f   stage limit %6.0f   ratio %3.0f%%\n",
	       dec1, lim_dec, 100 * dec1 / lim_dec);
	printf("    decode %2d threads %8.0f   scaling x%.2f\n", ncores, decn, decn / dec1);

	for (int i = 0; i < NCHUNKS; i++)
		free(da.frames[i]);
	ZSTD_freeDCtx(da.d);
	ZSTD_freeCCtx(cc);
	tsn_codec_free(c);
	free(blocks);
	free(data);
}

int
main(int argc, char **argv)
{
	long nc = sysconf(_SC_NPROCESSORS_ONLN);
	int ncores = nc < 1 ? 1 : nc > 64 ? 64 : (int)nc;

	if (argc > 1 && (secs_per_figure = atof(argv[1])) <= 0) {
		fprintf(stderr, "usage: bench-codec [SECONDS_PER_FIGURE]\n");
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "bench-codec: sodium_init failed\n");
		return 1;
	}
	printf("bench-codec: 256 KiB chunks, %d cores, zstd %s, libsodium %s\n", ncores,
	       ZSTD_versionString(), sodium_version_string());
	printf("(pipeline speeds are wall-clock per thread, summed over threads)\n");
	bench_kind("incompressible", fill_random, ncores);
	bench_kind("text-like", fill_text, ncores);
	return 0;
}
