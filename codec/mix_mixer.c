#include <errno.h>
#include <stdlib.h>

#include "mix_mixer.h"

int mix_mixer_new(struct mix_mixer *m, int n, int nsets, int32_t init_weight, int lr_shift)
{
	m->n = n;
	m->nsets = nsets;
	m->init_weight = init_weight;
	m->lr_shift = lr_shift;
	m->weights = malloc(sizeof(*m->weights) * (size_t)n * (size_t)nsets);
	if (!m->weights)
		return -ENOMEM;
	mix_mixer_reset(m);
	return 0;
}

void mix_mixer_free(struct mix_mixer *m)
{
	free(m->weights);
	m->weights = NULL;
}

void mix_mixer_reset(struct mix_mixer *m)
{
	for (long i = 0; i < (long)m->n * m->nsets; i++)
		m->weights[i] = m->init_weight;
	m->w = m->weights;
	m->dot = 0;
	m->pr = 2048;
}

int mix_apm_new(struct mix_apm *a, int nctx, int rate)
{
	a->nctx = nctx;
	a->rate = rate;
	a->t = malloc(sizeof(*a->t) * (size_t)nctx * 33);
	if (!a->t)
		return -ENOMEM;
	mix_apm_reset(a);
	return 0;
}

void mix_apm_free(struct mix_apm *a)
{
	free(a->t);
	a->t = NULL;
}

void mix_apm_reset(struct mix_apm *a)
{
	for (int j = 0; j < 33; j++) {
		int p = mix_squash((j - 16) * 128) * 16;

		a->t[j] = (uint16_t)(p > 65535 ? 65535 : p);
	}
	for (int c = 1; c < a->nctx; c++)
		for (int j = 0; j < 33; j++)
			a->t[c * 33 + j] = a->t[j];
	a->idx = 0;
}
