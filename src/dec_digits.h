/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Decimal digits without printf: the writers print numbers per hop, per
 * trace, and a live run writes a trace per request.
 */
#ifndef KRT_DEC_DIGITS_H
#define KRT_DEC_DIGITS_H

#include <linux/types.h>

/* Longest u64 in decimal. */
#define KRT_DEC_MAX 20

/* 10^n for n < KRT_DEC_MAX */
static inline __u64 krt_dec_pow10(unsigned int n)
{
	static const __u64 pow10[KRT_DEC_MAX] = {1ULL,
						 10ULL,
						 100ULL,
						 1000ULL,
						 10000ULL,
						 100000ULL,
						 1000000ULL,
						 10000000ULL,
						 100000000ULL,
						 1000000000ULL,
						 10000000000ULL,
						 100000000000ULL,
						 1000000000000ULL,
						 10000000000000ULL,
						 100000000000000ULL,
						 1000000000000000ULL,
						 10000000000000000ULL,
						 100000000000000000ULL,
						 1000000000000000000ULL,
						 10000000000000000000ULL};

	return pow10[n];
}

/* "00" to "99": two digits per division (timestamps have fourteen) */
static const char krt_dec_pairs[201] = "00010203040506070809"
				       "10111213141516171819"
				       "20212223242526272829"
				       "30313233343536373839"
				       "40414243444546474849"
				       "50515253545556575859"
				       "60616263646566676869"
				       "70717273747576777879"
				       "80818283848586878889"
				       "90919293949596979899";

/* v's digits written backwards so that they end just before end; returns the first. */
static inline char *krt_dec_digits(char *end, __u64 v)
{
	/*
	 * Eight digits per 64-bit division, the rest in 32 bits: timestamps
	 * (19 digits) took nine 64-bit divisions by 100 (the JSON writer's
	 * put_u64 was 10 % of a replay).
	 */
	while (v >= 100000000) {
		unsigned int lo = (unsigned int)(v % 100000000);

		v /= 100000000;
		for (int k = 0; k < 4; k++) {
			end -= 2;
			__builtin_memcpy(end, &krt_dec_pairs[2 * (lo % 100)], 2);
			lo /= 100;
		}
	}
	while (v >= 100) {
		unsigned int r = (unsigned int)v % 100;

		v = (unsigned int)v / 100;
		end -= 2;
		__builtin_memcpy(end, &krt_dec_pairs[2 * r], 2);
	}
	if (v >= 10) {
		end -= 2;
		__builtin_memcpy(end, &krt_dec_pairs[2 * v], 2);
	} else {
		*--end = (char)('0' + v);
	}
	return end;
}

/* An IPv4 octet (0-255) in decimal at p; returns the end (addresses in text and JSON). */
static inline char *krt_dec_put_octet(char *p, unsigned int v)
{
	if (v >= 100) {
		*p++ = (char)('0' + v / 100);
		v %= 100;
	} else if (v < 10) {
		*p = (char)('0' + v);
		return p + 1;
	}
	__builtin_memcpy(p, &krt_dec_pairs[2 * v], 2);
	return p + 2;
}

/* How many digits v has in decimal. */
static inline unsigned int krt_dec_len(__u64 v)
{
	/* log10 from the bit length (1233 / 4096 ~ log10(2)), then one compare */
	unsigned int t = (unsigned int)(64 - __builtin_clzll(v | 1)) * 1233 >> 12;

	return v ? t + 1 - (v < krt_dec_pow10(t)) : 1;
}

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/*
 * n < 10^8 as eight digit values (0..9, not yet ASCII), one per byte, the
 * most significant first in memory: 4-digit halves in 32-bit lanes, then
 * 2-digit quarters in 16-bit lanes, then digits in bytes, a multiply and a
 * shift dividing every lane at once (x * 10486 >> 20 is x / 100 for
 * x < 10^4, x * 103 >> 10 is x / 10 for x < 100). A trace's JSON has
 * about eighty numbers, most of them 14-digit timestamps: pairs from a
 * table cost one division and one load per two digits.
 */
static inline __u64 krt_dec_lanes8(__u32 n)
{
	__u64 merged = (__u64)(n / 10000) | ((__u64)(n % 10000) << 32);
	__u64 top = ((merged * 10486) >> 20) & 0x0000007f0000007fULL;
	__u64 hundreds = ((merged - 100 * top) << 16) + top;
	__u64 tens = ((hundreds * 103) >> 10) & 0x000f000f000f000fULL;

	return tens + ((hundreds - 10 * tens) << 8);
}

#define KRT_DEC_ASCII 0x3030303030303030ULL

/*
 * v's digits written at p (no NUL); returns their end. Writes whole 8-byte
 * words: up to KRT_DEC_MAX bytes at p may change, the ones past the
 * returned end are scratch.
 */
static inline char *krt_dec_put(char *p, __u64 v)
{
	__u64 w, lo;
	unsigned int skip;

	if (v < 100000000) {
		if (!v) {
			*p = '0';
			return p + 1;
		}
		/* the leading zeros are the low bytes: shift them out */
		w = krt_dec_lanes8((__u32)v);
		skip = (unsigned int)__builtin_ctzll(w) >> 3;
		w = (w + KRT_DEC_ASCII) >> (8 * skip);
		__builtin_memcpy(p, &w, 8);
		return p + 8 - skip;
	}
	lo = krt_dec_lanes8((__u32)(v % 100000000)) + KRT_DEC_ASCII;
	v /= 100000000;
	if (v >= 100000000) {
		/* at most 4 more digits (2^64 < 1.9 x 10^19) */
		__u32 hi = (__u32)(v / 100000000);

		p = krt_dec_put(p, hi);
		w = krt_dec_lanes8((__u32)(v % 100000000)) + KRT_DEC_ASCII;
		__builtin_memcpy(p, &w, 8);
		p += 8;
	} else {
		w = krt_dec_lanes8((__u32)v);
		skip = (unsigned int)__builtin_ctzll(w) >> 3;
		w = (w + KRT_DEC_ASCII) >> (8 * skip);
		__builtin_memcpy(p, &w, 8);
		p += 8 - skip;
	}
	__builtin_memcpy(p, &lo, 8);
	return p + 8;
}
#else
/* v's digits written at p (no NUL); returns their end. Up to KRT_DEC_MAX bytes at p may change. */
static inline char *krt_dec_put(char *p, __u64 v)
{
	char *end = p + krt_dec_len(v);

	krt_dec_digits(end, v);
	return end;
}
#endif

#endif
