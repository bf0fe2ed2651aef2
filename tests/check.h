/*
 * check.h: assertion macros for the C unit tests. A failed check prints the
 * file, line, expression and both sides, then exits 1; exit 77 is a skip.
 */
#ifndef TSN_CHECK_H
#define TSN_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
		exit(1); \
	} \
} while (0)

#define CHECK_INT(a, op, b) do { \
	long long check_a_ = (long long)(a), check_b_ = (long long)(b); \
	if (!(check_a_ op check_b_)) { \
		fprintf(stderr, "%s:%d: CHECK(%s %s %s) failed: %lld vs %lld\n", \
		        __FILE__, __LINE__, #a, #op, #b, check_a_, check_b_); \
		exit(1); \
	} \
} while (0)

#define CHECK_U64(a, op, b) do { \
	uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b); \
	if (!(check_a_ op check_b_)) { \
		fprintf(stderr, "%s:%d: CHECK(%s %s %s) failed: %" PRIu64 " vs %" PRIu64 "\n", \
		        __FILE__, __LINE__, #a, #op, #b, check_a_, check_b_); \
		exit(1); \
	} \
} while (0)

#define CHECK_MEM(a, b, n) do { \
	if (memcmp((a), (b), (n)) != 0) { \
		fprintf(stderr, "%s:%d: CHECK_MEM(%s, %s, %s) failed\n", \
		        __FILE__, __LINE__, #a, #b, #n); \
		exit(1); \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *check_a_ = (a), *check_b_ = (b); \
	if (strcmp(check_a_, check_b_) != 0) { \
		fprintf(stderr, "%s:%d: CHECK_STR(%s, %s) failed: \"%s\" vs \"%s\"\n", \
		        __FILE__, __LINE__, #a, #b, check_a_, check_b_); \
		exit(1); \
	} \
} while (0)

#define SKIP(why) do { fprintf(stderr, "skip: %s\n", (why)); exit(77); } while (0)

#endif
