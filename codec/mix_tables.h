/* mix_tables — the logistic domain of the BOA mixing coder: stretch, squash, counter rates.
 *
 * Owns: the constant tables (generated into mix_tables.c by mix_gen_tables.py), the two
 * conversions every predictor uses, and the bit-history state machine of hashed contexts.
 * Probabilities are 12-bit (0..4095 = P(bit is 1) * 4096); stretched values are ln(p / (1 - p)) *
 * 256, clamped to -2047..2047. Threads: read-only constants. */
#ifndef BOAFS_MIX_TABLES_H
#define BOAFS_MIX_TABLES_H

#include <stdint.h>

extern const uint16_t mix_squash_tab[4096];
extern const int16_t mix_stretch_tab[4096];
extern const int16_t mix_stretch_squash_tab[4096];
extern const uint16_t mix_rate_tab[1024];
extern const uint8_t mix_state_next[256][2];
extern const uint8_t mix_state_count[256][2];

/* 12-bit probability -> stretched value. */
static inline int mix_stretch(int p12)
{
	return mix_stretch_tab[p12];
}

/* Stretched value (any int; clamped) -> 12-bit probability in 1..4095. */
static inline int mix_squash(int x)
{
	if (x > 2047)
		x = 2047;
	if (x < -2047)
		x = -2047;
	return mix_squash_tab[x + 2048];
}

/* mix_stretch(mix_squash(x)) for -2047 <= x <= 2047, in one lookup. */
static inline int mix_stretch_squash(int x)
{
	return mix_stretch_squash_tab[x + 2048];
}

#endif
