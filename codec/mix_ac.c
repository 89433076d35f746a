#include <errno.h>

#include "mix_ac.h"

void mix_enc_init(struct mix_enc *e, void *out, size_t cap)
{
	e->out = out;
	e->cap = cap;
	e->pos = 0;
	e->x1 = 0;
	e->x2 = 0xffffffffu;
	e->overflow = 0;
}

int mix_enc_finish(struct mix_enc *e, size_t *out_len)
{
	/* x1 and x2 differ in their top byte, so (top byte of x1) + 1 followed by zeros lies in
	 * (x1, x2]: one byte ends the stream. */
	if (e->pos < e->cap)
		e->out[e->pos] = (uint8_t)((e->x1 >> 24) + 1);
	else
		e->overflow = 1;
	e->pos++;
	*out_len = e->pos;
	return e->overflow ? -ENOSPC : 0;
}

void mix_dec_init(struct mix_dec *d, const void *in, size_t len)
{
	d->in = in;
	d->len = len;
	d->pos = 0;
	d->x1 = 0;
	d->x2 = 0xffffffffu;
	d->x = 0;
	for (int i = 0; i < 4; i++)
		d->x = (d->x << 8) | (uint32_t)mix_dec_byte(d);
}

int mix_dec_finish(const struct mix_dec *d)
{
	return d->pos == d->len + 3 ? 0 : -EIO;
}
