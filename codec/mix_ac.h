/* mix_ac — the binary arithmetic coder of the BOA mixing coder (carry-less, 32-bit).
 *
 * Owns: turning a sequence of (bit, 16-bit probability) pairs into bytes and back. The state
 * is the interval [x1, x2]; a bit with P(1) = p/65536 splits it at
 * xmid = x1 + (x2 - x1) * p / 65536 (1 keeps the low part), and equal leading bytes of x1 and x2
 * are shifted out. The encoder ends with one byte that puts any zero continuation inside the
 * final interval, so a decoder consumes exactly (encoded length + 3) bytes counting the zero
 * bytes it reads past the end: mix_dec_finish checks that, which catches truncated payloads.
 * Does not own: the probabilities (mix_mixer.h, boa_predict.h).
 * Threads: an encoder or decoder is a plain value owned by one thread.
 * Errors: the encoder marks overflow of its output buffer (mix_enc_finish returns -ENOSPC); the
 * decoder never reads outside its input and mix_dec_finish returns -EIO on a length mismatch. */
#ifndef BOAFS_MIX_AC_H
#define BOAFS_MIX_AC_H

#include <stddef.h>
#include <stdint.h>

struct mix_enc {
	uint8_t *out;
	size_t cap, pos;
	uint32_t x1, x2;
	int overflow;
};

struct mix_dec {
	const uint8_t *in;
	size_t len, pos; /* pos counts bytes consumed, including zeros past the end */
	uint32_t x1, x2, x;
};

void mix_enc_init(struct mix_enc *e, void *out, size_t cap);
/* Writes the final byte; returns 0 and the total length, or -ENOSPC if `cap` was too small. */
int mix_enc_finish(struct mix_enc *e, size_t *out_len);
void mix_dec_init(struct mix_dec *d, const void *in, size_t len);
/* 0 if the decoder consumed exactly the encoded bytes, else -EIO. */
int mix_dec_finish(const struct mix_dec *d);

/* p16: P(bit is 1) in 1..65535. */
static inline void mix_enc_bit(struct mix_enc *e, int bit, uint32_t p16)
{
	uint32_t xmid = e->x1 + (uint32_t)(((uint64_t)(e->x2 - e->x1) * p16) >> 16);

	if (bit)
		e->x2 = xmid;
	else
		e->x1 = xmid + 1;
	while (((e->x1 ^ e->x2) & 0xff000000u) == 0) {
		if (e->pos < e->cap)
			e->out[e->pos] = (uint8_t)(e->x2 >> 24);
		else
			e->overflow = 1;
		e->pos++;
		e->x1 <<= 8;
		e->x2 = (e->x2 << 8) | 255;
	}
}

static inline int mix_dec_byte(struct mix_dec *d)
{
	int c = d->pos < d->len ? d->in[d->pos] : 0;

	d->pos++;
	return c;
}

static inline int mix_dec_bit(struct mix_dec *d, uint32_t p16)
{
	uint32_t xmid = d->x1 + (uint32_t)(((uint64_t)(d->x2 - d->x1) * p16) >> 16);
	int bit = d->x <= xmid;

	if (bit)
		d->x2 = xmid;
	else
		d->x1 = xmid + 1;
	while (((d->x1 ^ d->x2) & 0xff000000u) == 0) {
		d->x1 <<= 8;
		d->x2 = (d->x2 << 8) | 255;
		d->x = (d->x << 8) | (uint32_t)mix_dec_byte(d);
	}
	return bit;
}

#endif
