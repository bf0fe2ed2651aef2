/*
 * sim_rng.c: the simulator's random numbers. xoshiro256** per purpose,
 * seeded through splitmix64 from (seed, stream); distributions on top.
 * Same seed, same numbers: nothing here reads a clock or a global state.
 */
#include <math.h>
#include <string.h>

#include "sim_i.h"

uint64_t
sim_splitmix(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

uint64_t
sim_hash3(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t x = a;

	x = sim_splitmix(&x) ^ b;
	x = sim_splitmix(&x) ^ c;
	return sim_splitmix(&x);
}

void
sim_rng_seed(struct sim_rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = sim_hash3(seed, stream, UINT64_C(0x74736e2d73696d00) /* "tsn-sim" */);

	for (int i = 0; i < 4; i++)
		r->s[i] = sim_splitmix(&x);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t
sim_rng_next(struct sim_rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

uint64_t
sim_rng_below(struct sim_rng *r, uint64_t n)
{
	/* Lemire's nearly divisionless method would do; rejection keeps it exact. */
	uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;

	do
		x = sim_rng_next(r);
	while (x >= lim);
	return x % n;
}

static double
unit_of(uint64_t x)
{
	/* 53 random bits, shifted off zero: (0, 1) */
	return ((double)(x >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

double
sim_rng_unit(struct sim_rng *r)
{
	return unit_of(sim_rng_next(r));
}

void
sim_rng_bytes(struct sim_rng *r, void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t x = sim_rng_next(r);
		memcpy(p + i, &x, len - i < 8 ? len - i : 8);
	}
}

double
sim_rng_weibull(struct sim_rng *r, double shape, double median)
{
	/* F(x) = 1 - exp(-(x/scale)^shape); median = scale * ln(2)^(1/shape) */
	double scale = median / pow(log(2.0), 1.0 / shape);

	return scale * pow(-log(sim_rng_unit(r)), 1.0 / shape);
}

double
sim_lognormal_of(uint64_t h, double median, double sigma)
{
	uint64_t x = h;
	double u1 = unit_of(sim_splitmix(&x)), u2 = unit_of(sim_splitmix(&x));
	double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2); /* Box-Muller */

	return median * exp(sigma * z);
}
