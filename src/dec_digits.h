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

/* v's digits written backwards so that they end just before end; returns the first. */
static inline char *krt_dec_digits(char *end, __u64 v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

#endif
