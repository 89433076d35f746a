/* boa_train — training the Mamba byte model: float64 forward and backward pass, AdamW,
 * truncated BPTT, deterministic threading: the library under `boa train`.
 *
 * Data: every input file is split into a training part and, with --val-split F, its last F
 * fraction as validation. Each part is cut into streams of --stream-len bytes; a stream starts
 * from a zero state fed byte 0, exactly as the coder starts a chunk (boa_model.c). An epoch
 * visits the training streams in a seeded random order through --batch slots; each optimiser
 * step runs every busy slot for up to --seq-len bytes (the state is carried to the slot's next
 * window, the gradient is not: truncated BPTT) and takes one AdamW step on the mean loss.
 *
 * Determinism: each slot writes its own gradient buffer; buffers are summed in slot order by
 * one thread, so the model depends on the seed and options, never on --threads. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "boa_model_impl.h"
#include "boa_train.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math")
#endif

#define MAX_LAYERS 16
#define LN_EPS     1e-5

struct tl_off {
	size_t ln1_g, ln1_b, in_w, conv_w, conv_b, xp_w, dtp_w, dt_b, A_log, D, out_w, ln2_g, ln2_b,
	    ff1_w, ff1_b, ff2_w, ff2_b;
};

struct boa_train_net {
	struct boa_hparams hp;
	int d, E, S, R, K, F, L, XP;
	size_t P, emb, h1_w, h1_b, h2_w, h2_b;
	struct tl_off lo[MAX_LAYERS];
	double *w;  /* P weights, .boam order */
	double *wt; /* transposed copies of the matrices (same offsets), refreshed by net_prepare */
	double *A;  /* per layer [E][S] = -exp(A_log) */
};

/* ---- float64 math of our own: the trained model must not depend on which libm (or which of
 * its FMA/non-FMA variants) the training machine has. sqrt is IEEE-exact and stays. ---- */

static inline uint64_t dbits(double f)
{
	uint64_t u;
	memcpy(&u, &f, 8);
	return u;
}

static inline double dfloat(uint64_t u)
{
	double f;
	memcpy(&f, &u, 8);
	return f;
}

#define T_ROUND  6755399441055744.0 /* 1.5 * 2^52 */
#define T_LN2_HI 6.93147180369123816490e-01
#define T_LN2_LO 1.90821492927058770002e-10

/* exp(x), x clamped to [-700, 700]; ~1 ulp. Branch-free so that loops of it vectorise. */
static inline double texp(double x)
{
	x = x < 700.0 ? x : 700.0;
	x = x > -700.0 ? x : -700.0;
	double t = x * 1.44269504088896338700 + T_ROUND;
	double k = t - T_ROUND;
	double r = x - k * T_LN2_HI;
	r = r - k * T_LN2_LO;
	double p = 1.0 / 6227020800.0;
	p = p * r + 1.0 / 479001600.0;
	p = p * r + 1.0 / 39916800.0;
	p = p * r + 1.0 / 3628800.0;
	p = p * r + 1.0 / 362880.0;
	p = p * r + 1.0 / 40320.0;
	p = p * r + 1.0 / 5040.0;
	p = p * r + 1.0 / 720.0;
	p = p * r + 1.0 / 120.0;
	p = p * r + 1.0 / 24.0;
	p = p * r + 1.0 / 6.0;
	p = p * r + 0.5;
	p = p * r + 1.0;
	p = p * r + 1.0;
	int64_t ki = (int64_t)(dbits(t) - dbits(T_ROUND));
	return p * dfloat((uint64_t)(ki + 1023) << 52);
}

/* log(u) for a positive normal u. */
static double tlog(double u)
{
	uint64_t b = dbits(u);
	int64_t e = (int64_t)(b >> 52) - 1023;
	double m = dfloat((b & 0xfffffffffffffull) | 0x3ff0000000000000ull);
	if (m > 1.41421356237309504880) {
		m *= 0.5;
		e++;
	}
	double f = (m - 1.0) / (m + 1.0), s = f * f, p = 1.0 / 25.0;
	for (int k = 11; k >= 0; k--)
		p = p * s + 1.0 / (2 * k + 1);
	double ef = (double)e;
	return ef * T_LN2_HI + (2.0 * f * p + ef * T_LN2_LO);
}

static double tlog1p(double x)
{
	double u = 1.0 + x;
	if (u == 1.0)
		return x;
	return tlog(u) * (x / (u - 1.0));
}

/* cos(y) for y in [0, pi]. */
static double tcos(double y)
{
	double sign = 1.0;
	if (y > 1.57079632679489661923) {
		y = 3.14159265358979323846 - y;
		sign = -1.0;
	}
	double z = y * y, p = 0, term = 1.0;
	for (int k = 0; k <= 12; k++) {
		p += term;
		term *= -z / ((2.0 * k + 1) * (2.0 * k + 2));
	}
	return sign * p;
}

/* ---- layout ---- */

static size_t grab(size_t *cur, size_t n)
{
	size_t o = *cur;
	*cur += n;
	return o;
}

static int net_layout(struct boa_train_net *n, int dim, int layers)
{
	n->hp.dim = (uint32_t)dim;
	n->hp.layers = (uint32_t)layers;
	n->hp.vocab = BOA_VOCAB;
	n->hp.d_state = 16;
	n->hp.d_conv = 4;
	n->hp.expand = 2;
	n->hp.dt_rank = (uint32_t)((dim + 15) / 16);
	if (boa_hparams_check(&n->hp, NULL, 0) || layers > MAX_LAYERS)
		return -EINVAL;
	int d = dim, E = 2 * d, S = 16, R = (int)n->hp.dt_rank, K = 4, F = 4 * d;
	n->d = d;
	n->E = E;
	n->S = S;
	n->R = R;
	n->K = K;
	n->F = F;
	n->L = layers;
	n->XP = R + 2 * S;
	size_t c = 0;
	n->emb = grab(&c, 256 * (size_t)d);
	for (int l = 0; l < layers; l++) {
		struct tl_off *o = &n->lo[l];
		o->ln1_g = grab(&c, d);
		o->ln1_b = grab(&c, d);
		o->in_w = grab(&c, 2 * (size_t)E * d);
		o->conv_w = grab(&c, (size_t)E * K);
		o->conv_b = grab(&c, E);
		o->xp_w = grab(&c, (size_t)n->XP * E);
		o->dtp_w = grab(&c, (size_t)E * R);
		o->dt_b = grab(&c, E);
		o->A_log = grab(&c, (size_t)E * S);
		o->D = grab(&c, E);
		o->out_w = grab(&c, (size_t)d * E);
		o->ln2_g = grab(&c, d);
		o->ln2_b = grab(&c, d);
		o->ff1_w = grab(&c, (size_t)F * d);
		o->ff1_b = grab(&c, F);
		o->ff2_w = grab(&c, (size_t)d * F);
		o->ff2_b = grab(&c, d);
	}
	n->h1_w = grab(&c, (size_t)d * d);
	n->h1_b = grab(&c, d);
	n->h2_w = grab(&c, 256 * (size_t)d);
	n->h2_b = grab(&c, 256);
	n->P = c;
	return c == boa_hparams_params(&n->hp) ? 0 : -EINVAL;
}

int boa_train_net_new(int dim, int layers, struct boa_train_net **out)
{
	struct boa_train_net *n = calloc(1, sizeof(*n));
	int rc;

	*out = NULL;
	if (!n)
		return -ENOMEM;
	rc = net_layout(n, dim, layers);
	if (rc) {
		free(n);
		return rc;
	}
	n->w = calloc(n->P, sizeof(double));
	n->wt = calloc(n->P, sizeof(double));
	n->A = calloc((size_t)n->L * n->E * n->S, sizeof(double));
	if (!n->w || !n->wt || !n->A) {
		boa_train_net_free(n);
		return -ENOMEM;
	}
	*out = n;
	return 0;
}

void boa_train_net_free(struct boa_train_net *n)
{
	if (!n)
		return;
	free(n->w);
	free(n->wt);
	free(n->A);
	free(n);
}

size_t boa_train_net_params(const struct boa_train_net *n)
{
	return n->P;
}

double *boa_train_net_weights(struct boa_train_net *n)
{
	return n->w;
}

int boa_train_net_group(const struct boa_train_net *n, int i, char *name, size_t *off, size_t *len)
{
	static const char *const lname[] = {
	    "ln1.weight",      "ln1.bias",       "in_proj.weight", "conv1d.weight", "conv1d.bias",
	    "x_proj.weight",   "dt_proj.weight", "dt_proj.bias",   "A_log",         "D",
	    "out_proj.weight", "ln2.weight",     "ln2.bias",       "ff1.weight",    "ff1.bias",
	    "ff2.weight",      "ff2.bias"};
	const int per = (int)(sizeof(lname) / sizeof(lname[0]));
	size_t start[MAX_LAYERS * 17 + 8];
	char nm[64];
	int g = 0;

	start[g++] = n->emb;
	for (int l = 0; l < n->L; l++) {
		const struct tl_off *o = &n->lo[l];
		const size_t offs[] = {o->ln1_g, o->ln1_b, o->in_w,  o->conv_w, o->conv_b, o->xp_w,
		                       o->dtp_w, o->dt_b,  o->A_log, o->D,      o->out_w,  o->ln2_g,
		                       o->ln2_b, o->ff1_w, o->ff1_b, o->ff2_w,  o->ff2_b};
		for (int k = 0; k < per; k++)
			start[g++] = offs[k];
	}
	start[g++] = n->h1_w;
	start[g++] = n->h1_b;
	start[g++] = n->h2_w;
	start[g++] = n->h2_b;
	start[g] = n->P;
	if (i < 0 || i >= g)
		return -ENOENT;
	if (i == 0)
		snprintf(nm, sizeof(nm), "embedding");
	else if (i <= n->L * per)
		snprintf(nm, sizeof(nm), "layer%d.%s", (i - 1) / per, lname[(i - 1) % per]);
	else
		snprintf(nm, sizeof(nm), "%s",
		         (const char *[]){"head1.weight", "head1.bias", "head2.weight",
		                          "head2.bias"}[i - 1 - n->L * per]);
	memcpy(name, nm, sizeof(nm));
	*off = start[i];
	*len = start[i + 1] - start[i];
	return 0;
}

static void transpose(double *dst, const double *src, int rows, int cols)
{
	for (int r = 0; r < rows; r++)
		for (int c = 0; c < cols; c++)
			dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
}

/* Refreshes the derived copies after the weights changed. */
static void net_prepare(struct boa_train_net *n)
{
	int d = n->d, E = n->E, F = n->F;
	for (int l = 0; l < n->L; l++) {
		const struct tl_off *o = &n->lo[l];
		transpose(n->wt + o->in_w, n->w + o->in_w, 2 * E, d);
		transpose(n->wt + o->xp_w, n->w + o->xp_w, n->XP, E);
		transpose(n->wt + o->dtp_w, n->w + o->dtp_w, E, n->R);
		transpose(n->wt + o->out_w, n->w + o->out_w, d, E);
		transpose(n->wt + o->ff1_w, n->w + o->ff1_w, F, d);
		transpose(n->wt + o->ff2_w, n->w + o->ff2_w, d, F);
		double *A = n->A + (size_t)l * E * n->S;
		for (int i = 0; i < E * n->S; i++)
			A[i] = -texp(n->w[o->A_log + i]);
	}
	transpose(n->wt + n->h1_w, n->w + n->h1_w, d, d);
	transpose(n->wt + n->h2_w, n->w + n->h2_w, 256, d);
}

/* ---- random numbers (splitmix64) ---- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_unif(uint64_t *s) /* [0, 1) */
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* Standard normal, nearly: the sum of 12 uniforms (Irwin-Hall), no libm. */
static double rng_normal(uint64_t *s)
{
	double sum = 0;
	for (int i = 0; i < 12; i++)
		sum += rng_unif(s);
	return sum - 6.0;
}

static void fill_unif(double *w, size_t n, double bound, uint64_t *s)
{
	for (size_t i = 0; i < n; i++)
		w[i] = (2.0 * rng_unif(s) - 1.0) * bound;
}

static void fill_const(double *w, size_t n, double v)
{
	for (size_t i = 0; i < n; i++)
		w[i] = v;
}

void boa_train_net_init(struct boa_train_net *n, uint64_t seed)
{
	uint64_t s = seed ^ 0x426f614d6f64656cull;
	int d = n->d, E = n->E, S = n->S, R = n->R, K = n->K, F = n->F;
	double *w = n->w, res = 1.0 / sqrt(2.0 * n->L);

	for (size_t i = 0; i < 256 * (size_t)d; i++)
		w[n->emb + i] = rng_normal(&s);
	for (int l = 0; l < n->L; l++) {
		const struct tl_off *o = &n->lo[l];
		fill_const(w + o->ln1_g, d, 1.0);
		fill_const(w + o->ln1_b, d, 0.0);
		fill_unif(w + o->in_w, 2 * (size_t)E * d, 1.0 / sqrt(d), &s);
		fill_unif(w + o->conv_w, (size_t)E * K, 1.0 / sqrt(K), &s);
		fill_unif(w + o->conv_b, E, 1.0 / sqrt(K), &s);
		fill_unif(w + o->xp_w, (size_t)n->XP * E, 1.0 / sqrt(E), &s);
		fill_unif(w + o->dtp_w, (size_t)E * R, 1.0 / sqrt(R), &s);
		for (int e = 0; e < E; e++) {
			/* dt log-uniform in [0.001, 0.1]; the bias is its inverse softplus */
			double dt = texp(tlog(0.001) + rng_unif(&s) * (tlog(0.1) - tlog(0.001)));
			w[o->dt_b + e] = dt + tlog(1.0 - texp(-dt));
			for (int j = 0; j < S; j++)
				w[o->A_log + (size_t)e * S + j] = tlog(j + 1.0);
		}
		fill_const(w + o->D, E, 1.0);
		fill_unif(w + o->out_w, (size_t)d * E, res / sqrt(E), &s);
		fill_const(w + o->ln2_g, d, 1.0);
		fill_const(w + o->ln2_b, d, 0.0);
		fill_unif(w + o->ff1_w, (size_t)F * d, 1.0 / sqrt(d), &s);
		fill_const(w + o->ff1_b, F, 0.0);
		fill_unif(w + o->ff2_w, (size_t)d * F, res / sqrt(F), &s);
		fill_const(w + o->ff2_b, d, 0.0);
	}
	fill_unif(w + n->h1_w, (size_t)d * d, 1.0 / sqrt(d), &s);
	fill_const(w + n->h1_b, d, 0.0);
	fill_unif(w + n->h2_w, 256 * (size_t)d, 1.0 / sqrt(d), &s);
	fill_const(w + n->h2_b, 256, 0.0);
	net_prepare(n);
}

int boa_train_net_encode(const struct boa_train_net *n, uint8_t **out, size_t *out_len)
{
	float *f = malloc(n->P * sizeof(float));
	int rc;

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < n->P; i++)
		f[i] = (float)n->w[i];
	rc = boa_model_encode(&n->hp, f, out, out_len);
	free(f);
	return rc;
}

/* ---- elementwise functions and their derivatives ---- */

static double sigm(double x)
{
	return 1.0 / (1.0 + texp(-x));
}

static double gelu_a(double x)
{
	return x * ((double)BM_GELU_K0 + (double)BM_GELU_K1 * x * x);
}

static double gelu(double x)
{
	return x * sigm(gelu_a(x));
}

static double gelu_grad(double x)
{
	double s = sigm(gelu_a(x));
	return s + x * s * (1.0 - s) * ((double)BM_GELU_K0 + 3.0 * (double)BM_GELU_K1 * x * x);
}

static double softplus(double x)
{
	return x > 20.0 ? x : tlog1p(texp(x));
}

/* ---- dense layers over a window: rows t of X (stride xs) to rows of Y (stride ys) ---- */

/* Y[t][o] = b[o] + sum_i X[t][i] W[o][i], with WT = W transposed ([nin][nout]). */
static void mm_fwd(double *Y, int ys, const double *X, int xs, const double *WT, const double *b,
                   int T, int nin, int nout)
{
	for (int t = 0; t < T; t++) {
		double *y = Y + (size_t)t * ys;
		const double *x = X + (size_t)t * xs;
		for (int o = 0; o < nout; o++)
			y[o] = b ? b[o] : 0.0;
		for (int i = 0; i < nin; i++) {
			const double *w = WT + (size_t)i * nout;
			double xv = x[i];
			for (int o = 0; o < nout; o++)
				y[o] += w[o] * xv;
		}
	}
}

/* dX[t][i] += sum_o dY[t][o] W[o][i]; dW[o][i] += sum_t dY[t][o] X[t][i]; db[o] += sum_t dY. */
static void mm_bwd(const double *dY, int ys, const double *X, int xs, const double *W, double *dX,
                   int dxs, double *dW, double *db, int T, int nin, int nout)
{
	for (int t = 0; t < T; t++) {
		const double *dy = dY + (size_t)t * ys, *x = X + (size_t)t * xs;
		double *dx = dX ? dX + (size_t)t * dxs : NULL;
		for (int o = 0; o < nout; o++) {
			double g = dy[o];
			if (g == 0.0)
				continue;
			const double *w = W + (size_t)o * nin;
			double *dw = dW + (size_t)o * nin;
			if (dx)
				for (int i = 0; i < nin; i++)
					dx[i] += g * w[i];
			for (int i = 0; i < nin; i++)
				dw[i] += g * x[i];
			if (db)
				db[o] += g;
		}
	}
}

static void ln_fwd(double *y, double *xhat, double *rstd, const double *x, const double *g,
                   const double *b, int n)
{
	double mean = 0, var = 0;
	for (int i = 0; i < n; i++)
		mean += x[i];
	mean /= n;
	for (int i = 0; i < n; i++)
		var += (x[i] - mean) * (x[i] - mean);
	var /= n;
	double r = 1.0 / sqrt(var + LN_EPS);
	*rstd = r;
	for (int i = 0; i < n; i++) {
		xhat[i] = (x[i] - mean) * r;
		y[i] = xhat[i] * g[i] + b[i];
	}
}

/* dx += LayerNorm backward of dy. */
static void ln_bwd(double *dx, const double *dy, const double *xhat, double rstd, const double *g,
                   double *dg, double *db, int n)
{
	double m1 = 0, m2 = 0;
	for (int i = 0; i < n; i++) {
		double dxh = dy[i] * g[i];
		dg[i] += dy[i] * xhat[i];
		db[i] += dy[i];
		m1 += dxh;
		m2 += dxh * xhat[i];
	}
	m1 /= n;
	m2 /= n;
	for (int i = 0; i < n; i++)
		dx[i] += rstd * (dy[i] * g[i] - m1 - xhat[i] * m2);
}

/* ---- one window of one stream: activations, forward, backward ---- */

struct tlayer_act {
	double *xhat1, *rstd1, *a1, *xz, *xcp, *xc, *dbc, *dt, *dtp, *da, *h, *ys, *yg, *umid,
	    *xhat2, *rstd2, *a2, *f1, *g1;
	double *h0, *conv0; /* the state the window started from */
};

struct twork {
	int T; /* capacity */
	struct tlayer_act la[MAX_LAYERS];
	double *ures; /* [L+1][T][d] residual stream: embedding, then each block's output */
	double *hp, *hh, *prob;
	/* backward scratch */
	double *du, *dumid, *da2, *dg1, *dyg, *dys, *dz, *dxc, *ddbc, *ddtp, *dxin, *da1, *dh,
	    *dlog, *dhh;
	double *mem;
};

static void twork_free(struct twork *w)
{
	if (w)
		free(w->mem);
}

static int twork_init(struct twork *w, const struct boa_train_net *n, int T)
{
	int d = n->d, E = n->E, S = n->S, F = n->F, L = n->L, XP = n->XP, K = n->K;
	size_t per_layer = (size_t)T * (d + 1 + d + 2 * E + E + E + XP + E + E + 2 * (size_t)S * E +
	                                E + E + d + d + 1 + d + F + F) +
	                   (size_t)S * E + (size_t)(K - 1) * E;
	size_t total = per_layer * L + (size_t)(L + 1) * T * d + (size_t)T * (d + d + 256) +
	               (size_t)T * (d + d + d + F + E + E + E + E + XP + E + E + d + 256 + d) +
	               (size_t)S * E;
	memset(w, 0, sizeof(*w));
	w->mem = calloc(total, sizeof(double));
	if (!w->mem)
		return -ENOMEM;
	w->T = T;
	size_t c = 0;
#define TAKE(n_) (w->mem + grab(&c, (size_t)(n_)))
	for (int l = 0; l < L; l++) {
		struct tlayer_act *a = &w->la[l];
		a->xhat1 = TAKE(T * d);
		a->rstd1 = TAKE(T);
		a->a1 = TAKE(T * d);
		a->xz = TAKE(T * 2 * E);
		a->xcp = TAKE(T * E);
		a->xc = TAKE(T * E);
		a->dbc = TAKE(T * XP);
		a->dtp = TAKE(T * E);
		a->dt = TAKE(T * E);
		a->da = TAKE((size_t)T * S * E);
		a->h = TAKE((size_t)T * S * E);
		a->ys = TAKE(T * E);
		a->yg = TAKE(T * E);
		a->umid = TAKE(T * d);
		a->xhat2 = TAKE(T * d);
		a->rstd2 = TAKE(T);
		a->a2 = TAKE(T * d);
		a->f1 = TAKE(T * F);
		a->g1 = TAKE(T * F);
		a->h0 = TAKE(S * E);
		a->conv0 = TAKE((K - 1) * E);
	}
	w->ures = TAKE((size_t)(L + 1) * T * d);
	w->hp = TAKE(T * d);
	w->hh = TAKE(T * d);
	w->prob = TAKE(T * 256);
	w->du = TAKE(T * d);
	w->dumid = TAKE(T * d);
	w->da2 = TAKE(T * d);
	w->dg1 = TAKE(T * F);
	w->dyg = TAKE(T * E);
	w->dys = TAKE(T * E);
	w->dz = TAKE(T * E);
	w->dxc = TAKE(T * E);
	w->ddbc = TAKE(T * XP);
	w->ddtp = TAKE(T * E);
	w->dxin = TAKE(T * E);
	w->da1 = TAKE(T * d);
	w->dlog = TAKE(T * 256);
	w->dhh = TAKE(T * d);
	w->dh = TAKE(S * E);
#undef TAKE
	return c <= total ? 0 : -EINVAL;
}

/* The recurrent state a stream carries between windows. */
struct tstate {
	double *conv; /* [L][K-1][E] last inputs of each block's convolution, oldest first */
	double *h;    /* [L][E][S] */
};

static int tstate_new(const struct boa_train_net *n, struct tstate *st)
{
	st->conv = calloc((size_t)n->L * (n->K - 1) * n->E, sizeof(double));
	st->h = calloc((size_t)n->L * n->E * n->S, sizeof(double));
	return st->conv && st->h ? 0 : -ENOMEM;
}

static void tstate_free(struct tstate *st)
{
	free(st->conv);
	free(st->h);
}

static void tstate_zero(const struct boa_train_net *n, struct tstate *st)
{
	memset(st->conv, 0, (size_t)n->L * (n->K - 1) * n->E * sizeof(double));
	memset(st->h, 0, (size_t)n->L * n->E * n->S * sizeof(double));
}

/* Forward over in[0..T) predicting tgt[0..T); advances `st`; returns the summed loss (nats). */
static double net_forward(const struct boa_train_net *n, struct twork *w, struct tstate *st,
                          const uint8_t *in, const uint8_t *tgt, int T)
{
	int d = n->d, E = n->E, S = n->S, R = n->R, K = n->K, F = n->F, XP = n->XP;
	const double *P = n->w, *WT = n->wt;
	double loss = 0;

	for (int t = 0; t < T; t++)
		memcpy(w->ures + (size_t)t * d, P + n->emb + (size_t)in[t] * d, d * sizeof(double));
	for (int l = 0; l < n->L; l++) {
		const struct tl_off *o = &n->lo[l];
		struct tlayer_act *a = &w->la[l];
		const double *uin = w->ures + (size_t)l * T * d;
		double *uout = w->ures + (size_t)(l + 1) * T * d;
		double *convst = st->conv + (size_t)l * (K - 1) * E;
		double *hst = st->h + (size_t)l * E * S;
		const double *A = n->A + (size_t)l * E * S;

		memcpy(a->h0, hst, (size_t)E * S * sizeof(double));
		memcpy(a->conv0, convst, (size_t)(K - 1) * E * sizeof(double));
		for (int t = 0; t < T; t++)
			ln_fwd(a->a1 + (size_t)t * d, a->xhat1 + (size_t)t * d, &a->rstd1[t],
			       uin + (size_t)t * d, P + o->ln1_g, P + o->ln1_b, d);
		mm_fwd(a->xz, 2 * E, a->a1, d, WT + o->in_w, NULL, T, d, 2 * E);
		for (int t = 0; t < T; t++) {
			for (int e = 0; e < E; e++) {
				double acc = P[o->conv_b + e];
				for (int k = 0; k < K; k++) {
					int tau = t - (K - 1) + k;
					double xin = tau >= 0
					                 ? a->xz[(size_t)tau * 2 * E + e]
					                 : a->conv0[(size_t)(K - 1 + tau) * E + e];
					acc += P[o->conv_w + (size_t)e * K + k] * xin;
				}
				a->xcp[(size_t)t * E + e] = acc;
				a->xc[(size_t)t * E + e] = acc * sigm(acc);
			}
		}
		mm_fwd(a->dbc, XP, a->xc, E, WT + o->xp_w, NULL, T, E, XP);
		mm_fwd(a->dtp, E, a->dbc, XP, WT + o->dtp_w, P + o->dt_b, T, R, E);
		for (int i = 0; i < T * E; i++)
			a->dt[i] = softplus(a->dtp[i]);
		for (int t = 0; t < T; t++) {
			const double *hprev = t ? a->h + (size_t)(t - 1) * E * S : a->h0;
			double *h = a->h + (size_t)t * E * S, *da = a->da + (size_t)t * E * S;
			const double *dt = a->dt + (size_t)t * E, *x = a->xc + (size_t)t * E;
			const double *B = a->dbc + (size_t)t * XP + R, *C = B + S;
			for (int e = 0; e < E; e++)
				for (int s = 0; s < S; s++)
					da[(size_t)e * S + s] = dt[e] * A[(size_t)e * S + s];
			for (int i = 0; i < E * S; i++) /* a loop of its own: it vectorises */
				da[i] = texp(da[i]);
			for (int e = 0; e < E; e++) {
				double dtx = dt[e] * x[e], y = 0;
				for (int s = 0; s < S; s++) {
					size_t i = (size_t)e * S + s;
					h[i] = da[i] * hprev[i] + dtx * B[s];
					y += C[s] * h[i];
				}
				y += P[o->D + e] * x[e];
				double z = a->xz[(size_t)t * 2 * E + E + e];
				a->ys[(size_t)t * E + e] = y;
				a->yg[(size_t)t * E + e] = y * z * sigm(z);
			}
		}
		mm_fwd(a->umid, d, a->yg, E, WT + o->out_w, NULL, T, E, d);
		for (int i = 0; i < T * d; i++)
			a->umid[i] += uin[i];
		for (int t = 0; t < T; t++)
			ln_fwd(a->a2 + (size_t)t * d, a->xhat2 + (size_t)t * d, &a->rstd2[t],
			       a->umid + (size_t)t * d, P + o->ln2_g, P + o->ln2_b, d);
		mm_fwd(a->f1, F, a->a2, d, WT + o->ff1_w, P + o->ff1_b, T, d, F);
		for (int i = 0; i < T * F; i++)
			a->g1[i] = gelu(a->f1[i]);
		mm_fwd(uout, d, a->g1, F, WT + o->ff2_w, P + o->ff2_b, T, F, d);
		for (int i = 0; i < T * d; i++)
			uout[i] += a->umid[i];
		/* carry the state */
		memcpy(hst, a->h + (size_t)(T - 1) * E * S, (size_t)E * S * sizeof(double));
		for (int k = 0; k < K - 1; k++) {
			int tau = T - (K - 1) + k;
			for (int e = 0; e < E; e++)
				convst[(size_t)k * E + e] =
				    tau >= 0 ? a->xz[(size_t)tau * 2 * E + e]
				             : a->conv0[(size_t)(K - 1 + tau) * E + e];
		}
	}
	const double *uL = w->ures + (size_t)n->L * T * d;
	mm_fwd(w->hp, d, uL, d, WT + n->h1_w, P + n->h1_b, T, d, d);
	for (int i = 0; i < T * d; i++)
		w->hh[i] = w->hp[i] > 0 ? w->hp[i] : 0;
	mm_fwd(w->prob, 256, w->hh, d, WT + n->h2_w, P + n->h2_b, T, d, 256);
	for (int t = 0; t < T; t++) {
		double *p = w->prob + (size_t)t * 256, mx = p[0], sum = 0;
		for (int i = 1; i < 256; i++)
			mx = p[i] > mx ? p[i] : mx;
		for (int i = 0; i < 256; i++) {
			p[i] = texp(p[i] - mx);
			sum += p[i];
		}
		for (int i = 0; i < 256; i++)
			p[i] /= sum;
		loss -= tlog(p[tgt[t]] > 1e-300 ? p[tgt[t]] : 1e-300);
	}
	return loss;
}

/* Gradient of (scale * the summed loss of the last forward) added to G. */
static void net_backward(const struct boa_train_net *n, struct twork *w, const uint8_t *in,
                         const uint8_t *tgt, int T, double scale, double *G)
{
	int d = n->d, E = n->E, S = n->S, R = n->R, K = n->K, F = n->F, XP = n->XP;
	const double *P = n->w;

	for (int t = 0; t < T; t++) {
		double *g = w->dlog + (size_t)t * 256;
		const double *p = w->prob + (size_t)t * 256;
		for (int i = 0; i < 256; i++)
			g[i] = scale * p[i];
		g[tgt[t]] -= scale;
	}
	memset(w->dhh, 0, (size_t)T * d * sizeof(double));
	mm_bwd(w->dlog, 256, w->hh, d, P + n->h2_w, w->dhh, d, G + n->h2_w, G + n->h2_b, T, d, 256);
	for (int i = 0; i < T * d; i++)
		w->dhh[i] = w->hp[i] > 0 ? w->dhh[i] : 0;
	memset(w->du, 0, (size_t)T * d * sizeof(double));
	mm_bwd(w->dhh, d, w->ures + (size_t)n->L * T * d, d, P + n->h1_w, w->du, d, G + n->h1_w,
	       G + n->h1_b, T, d, d);

	for (int l = n->L - 1; l >= 0; l--) {
		const struct tl_off *o = &n->lo[l];
		struct tlayer_act *a = &w->la[l];
		const double *A = n->A + (size_t)l * E * S;

		/* FF: uout = umid + ff2(gelu(ff1(ln2(umid)))) */
		memset(w->dg1, 0, (size_t)T * F * sizeof(double));
		mm_bwd(w->du, d, a->g1, F, P + o->ff2_w, w->dg1, F, G + o->ff2_w, G + o->ff2_b, T,
		       F, d);
		for (int i = 0; i < T * F; i++)
			w->dg1[i] *= gelu_grad(a->f1[i]);
		memset(w->da2, 0, (size_t)T * d * sizeof(double));
		mm_bwd(w->dg1, F, a->a2, d, P + o->ff1_w, w->da2, d, G + o->ff1_w, G + o->ff1_b, T,
		       d, F);
		memcpy(w->dumid, w->du, (size_t)T * d * sizeof(double));
		for (int t = 0; t < T; t++)
			ln_bwd(w->dumid + (size_t)t * d, w->da2 + (size_t)t * d,
			       a->xhat2 + (size_t)t * d, a->rstd2[t], P + o->ln2_g, G + o->ln2_g,
			       G + o->ln2_b, d);

		/* Mamba: umid = uin + out_proj(yg) */
		memset(w->dyg, 0, (size_t)T * E * sizeof(double));
		mm_bwd(w->dumid, d, a->yg, E, P + o->out_w, w->dyg, E, G + o->out_w, NULL, T, E, d);
		for (int t = 0; t < T; t++) {
			for (int e = 0; e < E; e++) {
				size_t i = (size_t)t * E + e;
				double z = a->xz[(size_t)t * 2 * E + E + e], sz = sigm(z);
				w->dys[i] = w->dyg[i] * z * sz;
				w->dz[i] = w->dyg[i] * a->ys[i] * sz * (1.0 + z * (1.0 - sz));
			}
		}
		/* selective scan, backwards in time */
		memset(w->dxc, 0, (size_t)T * E * sizeof(double));
		memset(w->ddbc, 0, (size_t)T * XP * sizeof(double));
		memset(w->ddtp, 0, (size_t)T * E * sizeof(double));
		memset(w->dh, 0, (size_t)E * S * sizeof(double));
		for (int t = T - 1; t >= 0; t--) {
			const double *hprev = t ? a->h + (size_t)(t - 1) * E * S : a->h0;
			const double *h = a->h + (size_t)t * E * S, *da = a->da + (size_t)t * E * S;
			const double *dt = a->dt + (size_t)t * E, *x = a->xc + (size_t)t * E;
			const double *B = a->dbc + (size_t)t * XP + R, *C = B + S;
			double *dB = w->ddbc + (size_t)t * XP + R, *dC = dB + S;
			const double *dy = w->dys + (size_t)t * E;
			double *dx = w->dxc + (size_t)t * E, *ddt = w->ddtp + (size_t)t * E;
			for (int e = 0; e < E; e++) {
				double g_y = dy[e], ddt_e = 0, dx_e = 0;
				G[o->D + e] += g_y * x[e];
				dx_e += g_y * P[o->D + e];
				for (int s = 0; s < S; s++) {
					size_t i = (size_t)e * S + s;
					dC[s] += h[i] * g_y;
					double g = w->dh[i] + C[s] * g_y;
					double dda = g * hprev[i];
					ddt_e += dda * da[i] * A[i] + g * B[s] * x[e];
					/* d/dA_log = d/dA * A */
					G[o->A_log + i] += dda * da[i] * dt[e] * A[i];
					dB[s] += g * dt[e] * x[e];
					dx_e += g * dt[e] * B[s];
					w->dh[i] = g * da[i];
				}
				ddt[e] = ddt_e * sigm(a->dtp[(size_t)t * E + e]);
				dx[e] += dx_e;
			}
		}
		/* dt = softplus(dt_proj(dbc[:R]) + b) */
		mm_bwd(w->ddtp, E, a->dbc, XP, P + o->dtp_w, w->ddbc, XP, G + o->dtp_w, G + o->dt_b,
		       T, R, E);
		mm_bwd(w->ddbc, XP, a->xc, E, P + o->xp_w, w->dxc, E, G + o->xp_w, NULL, T, E, XP);
		/* xc = silu(conv(x)) */
		memset(w->dxin, 0, (size_t)T * E * sizeof(double));
		for (int t = 0; t < T; t++) {
			for (int e = 0; e < E; e++) {
				double c = a->xcp[(size_t)t * E + e], sc = sigm(c);
				double g = w->dxc[(size_t)t * E + e] * sc * (1.0 + c * (1.0 - sc));
				G[o->conv_b + e] += g;
				for (int k = 0; k < K; k++) {
					int tau = t - (K - 1) + k;
					double xin = tau >= 0
					                 ? a->xz[(size_t)tau * 2 * E + e]
					                 : a->conv0[(size_t)(K - 1 + tau) * E + e];
					G[o->conv_w + (size_t)e * K + k] += g * xin;
					if (tau >= 0)
						w->dxin[(size_t)tau * E + e] +=
						    g * P[o->conv_w + (size_t)e * K + k];
				}
			}
		}
		/* in_proj: x rows then z rows */
		memset(w->da1, 0, (size_t)T * d * sizeof(double));
		mm_bwd(w->dxin, E, a->a1, d, P + o->in_w, w->da1, d, G + o->in_w, NULL, T, d, E);
		mm_bwd(w->dz, E, a->a1, d, P + o->in_w + (size_t)E * d, w->da1, d,
		       G + o->in_w + (size_t)E * d, NULL, T, d, E);
		memcpy(w->du, w->dumid, (size_t)T * d * sizeof(double));
		for (int t = 0; t < T; t++)
			ln_bwd(w->du + (size_t)t * d, w->da1 + (size_t)t * d,
			       a->xhat1 + (size_t)t * d, a->rstd1[t], P + o->ln1_g, G + o->ln1_g,
			       G + o->ln1_b, d);
	}
	for (int t = 0; t < T; t++) {
		double *ge = G + n->emb + (size_t)in[t] * d;
		for (int i = 0; i < d; i++)
			ge[i] += w->du[(size_t)t * d + i];
	}
}

double boa_train_net_loss(struct boa_train_net *n, const uint8_t *bytes, int len, double *grad)
{
	struct twork w;
	struct tstate st;
	uint8_t *in = malloc(len > 0 ? (size_t)len : 1);
	double loss = NAN;

	net_prepare(n);
	if (!in || len < 1 || twork_init(&w, n, len)) {
		free(in);
		return NAN;
	}
	if (tstate_new(n, &st))
		goto out;
	in[0] = 0;
	memcpy(in + 1, bytes, (size_t)len - 1);
	loss = net_forward(n, &w, &st, in, bytes, len);
	if (grad) {
		memset(grad, 0, n->P * sizeof(double));
		net_backward(n, &w, in, bytes, len, 1.0, grad);
	}
out:
	tstate_free(&st);
	twork_free(&w);
	free(in);
	return loss;
}

/* ---- the training run ---- */

struct stream_ref {
	const uint8_t *bytes;
	size_t len;
};

struct slot {
	const struct stream_ref *sr; /* NULL: idle */
	size_t pos;                  /* bytes of the stream already predicted */
	struct tstate st;
	uint8_t *in, *tgt;
	int T;
	double loss;
	double *grad;
};

struct trainer {
	struct boa_train_opts o;
	struct boa_train_net *n;
	struct stream_ref *train, *val;
	size_t ntrain, nval, train_bytes, val_bytes;
	struct slot *slots;
	struct twork *work; /* one per thread */
	double *m1, *m2, *gsum;
	double scale;    /* 1 / bytes in this step's windows */
	int epochs_run;  /* epochs started (the last one may be cut short by max_seconds) */
	int out_of_time; /* max_seconds ran out */
};

static int write_model(const struct boa_train_net *n, const char *path, uint8_t **img_out,
                       size_t *len_out);

struct worker_arg {
	struct trainer *tr;
	int tid;
};

static void *worker_step(void *p)
{
	struct worker_arg *wa = p;
	struct trainer *tr = wa->tr;

	for (int i = wa->tid; i < tr->o.batch; i += tr->o.threads) {
		struct slot *s = &tr->slots[i];
		if (!s->sr)
			continue;
		s->loss = net_forward(tr->n, &tr->work[wa->tid], &s->st, s->in, s->tgt, s->T);
		memset(s->grad, 0, tr->n->P * sizeof(double));
		net_backward(tr->n, &tr->work[wa->tid], s->in, s->tgt, s->T, tr->scale, s->grad);
	}
	return NULL;
}

/* Runs fn(tr, tid) on o.threads threads (the calling one included). */
static int run_threads(struct trainer *tr, void *(*fn)(void *))
{
	int nt = tr->o.threads;
	pthread_t th[256];
	struct worker_arg wa[256];
	int started = 0, rc = 0;

	for (int i = 0; i < nt; i++) {
		wa[i].tr = tr;
		wa[i].tid = i;
	}
	for (int i = 1; i < nt; i++) {
		if (pthread_create(&th[i], NULL, fn, &wa[i])) {
			rc = -EAGAIN;
			break;
		}
		started = i;
	}
	if (!rc)
		fn(&wa[0]);
	for (int i = 1; i <= started; i++)
		pthread_join(th[i], NULL);
	return rc;
}

/* Validation with the inference path: bits per byte from the quantised frequencies. */
struct val_job {
	const struct boa_model *m;
	const struct stream_ref *streams;
	size_t n;
	int threads, tid;
	double *bits;
	int rc;
};

/* Streams a validation worker steps together (boa_streams_*): each weight is read once per
 * VAL_BATCH bytes. The bits of each stream are summed in its own byte order, as one at a time. */
#define VAL_BATCH 8

static void *val_worker(void *p)
{
	struct val_job *j = p;
	struct boa_stream *s[VAL_BATCH] = {NULL}, *live[VAL_BATCH];
	uint32_t freq[VAL_BATCH][256];
	uint8_t next[VAL_BATCH];
	size_t idx[VAL_BATCH];
	double bits[VAL_BATCH];
	int slot[VAL_BATCH];

	for (int b = 0; b < VAL_BATCH && !j->rc; b++)
		j->rc = boa_stream_new(j->m, &s[b]);
	for (size_t i = (size_t)j->tid; i < j->n && !j->rc;) {
		int nb = 0;

		for (; nb < VAL_BATCH && i < j->n; nb++, i += (size_t)j->threads) {
			idx[nb] = i;
			bits[nb] = 0;
			boa_stream_reset(s[nb]);
		}
		for (size_t k = 0;; k++) {
			int nlive = 0;

			for (int b = 0; b < nb; b++)
				if (k < j->streams[idx[b]].len) {
					live[nlive] = s[b];
					slot[nlive++] = b;
				}
			if (!nlive)
				break;
			j->rc = boa_streams_predict(live, nlive, freq);
			if (j->rc)
				break;
			for (int a = 0; a < nlive; a++) {
				uint8_t byte = j->streams[idx[slot[a]]].bytes[k];
				bits[slot[a]] -=
				    log2((double)freq[a][byte] / (double)(1 << BOA_PROB_BITS));
				next[a] = byte;
			}
			j->rc = boa_streams_update(live, nlive, next);
			if (j->rc)
				break;
		}
		for (int b = 0; b < nb; b++)
			j->bits[idx[b]] = bits[b];
	}
	for (int b = 0; b < VAL_BATCH; b++)
		boa_stream_free(s[b]);
	return NULL;
}

/* Bits per byte of `m` over `streams`; summed in stream order whatever the thread count. */
static int eval_bpb(const struct boa_model *m, const struct stream_ref *streams, size_t n,
                    int threads, double *bpb)
{
	struct val_job jobs[256];
	pthread_t th[256];
	double *bits = calloc(n ? n : 1, sizeof(double)), total = 0;
	size_t bytes = 0;
	int rc = 0, started = 0;

	if (!bits)
		return -ENOMEM;
	if (threads > (int)n)
		threads = n ? (int)n : 1;
	for (int i = 0; i < threads; i++)
		jobs[i] = (struct val_job){m, streams, n, threads, i, bits, 0};
	for (int i = 1; i < threads; i++) {
		if (pthread_create(&th[i], NULL, val_worker, &jobs[i])) {
			rc = -EAGAIN;
			break;
		}
		started = i;
	}
	if (!rc)
		val_worker(&jobs[0]);
	for (int i = 1; i <= started; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < threads && !rc; i++)
		rc = jobs[i].rc;
	for (size_t i = 0; i < n; i++) {
		total += bits[i];
		bytes += streams[i].len;
	}
	*bpb = bytes ? total / (double)bytes : 0.0;
	free(bits);
	return rc;
}

int boa_train_eval_bpb(const uint8_t *model, size_t model_len, const uint8_t *data, size_t len,
                       size_t stream_len, int threads, double *bpb)
{
	struct boa_model *m = NULL;
	size_t n = (len + stream_len - 1) / stream_len;
	struct stream_ref *sr = calloc(n ? n : 1, sizeof(*sr));
	int rc;

	if (!sr)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		sr[i].bytes = data + i * stream_len;
		sr[i].len = len - i * stream_len < stream_len ? len - i * stream_len : stream_len;
	}
	rc = boa_model_load(model, model_len, &m, NULL, 0);
	if (!rc)
		rc = eval_bpb(m, sr, n, threads, bpb);
	boa_model_free(m);
	free(sr);
	return rc;
}

static int net_eval_val(struct trainer *tr, double *bpb)
{
	uint8_t *img = NULL;
	size_t len;
	struct boa_model *m = NULL;
	int rc;

	*bpb = 0;
	if (!tr->nval)
		return 0;
	rc = boa_train_net_encode(tr->n, &img, &len);
	if (rc)
		return rc;
	rc = boa_model_load(img, len, &m, NULL, 0);
	if (!rc)
		rc = eval_bpb(m, tr->val, tr->nval, tr->o.threads, bpb);
	boa_model_free(m);
	free(img);
	return rc;
}

/* Parameters that get weight decay: the matrices (not embeddings, norms, biases, A, D). */
static void decay_mask(const struct boa_train_net *n, uint8_t *mask)
{
	int d = n->d, E = n->E, F = n->F;
	memset(mask, 0, n->P);
	for (int l = 0; l < n->L; l++) {
		const struct tl_off *o = &n->lo[l];
		memset(mask + o->in_w, 1, 2 * (size_t)E * d);
		memset(mask + o->xp_w, 1, (size_t)n->XP * E);
		memset(mask + o->dtp_w, 1, (size_t)E * n->R);
		memset(mask + o->out_w, 1, (size_t)d * E);
		memset(mask + o->ff1_w, 1, (size_t)F * d);
		memset(mask + o->ff2_w, 1, (size_t)d * F);
	}
	memset(mask + n->h1_w, 1, (size_t)d * d);
	memset(mask + n->h2_w, 1, 256 * (size_t)d);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Fills slot s's next window; takes the next stream from the queue when it has none. */
static void slot_fill(struct trainer *tr, struct slot *s, const size_t *order, size_t *next)
{
	if (s->sr && s->pos >= s->sr->len)
		s->sr = NULL;
	if (!s->sr) {
		if (*next >= tr->ntrain)
			return;
		s->sr = &tr->train[order[(*next)++]];
		s->pos = 0;
		tstate_zero(tr->n, &s->st);
	}
	size_t left = s->sr->len - s->pos;
	s->T = left < (size_t)tr->o.seq_len ? (int)left : tr->o.seq_len;
	for (int t = 0; t < s->T; t++) {
		size_t k = s->pos + (size_t)t;
		s->in[t] = k ? s->sr->bytes[k - 1] : 0;
		s->tgt[t] = s->sr->bytes[k];
	}
}

static int train_run(struct trainer *tr, double *train_bpb, double *val_bpb, size_t *steps_out)
{
	struct boa_train_net *n = tr->n;
	size_t P = n->P, step = 0;
	uint8_t *mask = malloc(P);
	size_t *order = malloc((tr->ntrain ? tr->ntrain : 1) * sizeof(size_t));
	uint64_t rng = tr->o.seed * 0x2545f4914f6cdd1dull + 7;
	double t0 = now_s();
	int rc = 0;
	/* steps per epoch, over-estimated: every stream may end a window early */
	size_t est = (tr->train_bytes + (size_t)tr->o.seq_len * tr->o.batch - 1) /
	                 ((size_t)tr->o.seq_len * tr->o.batch) +
	             tr->ntrain / (size_t)tr->o.batch + 1;
	size_t total_steps = est * (size_t)tr->o.epochs, warm = total_steps / 50 + 10;
	double b1t = 1.0, b2t = 1.0; /* beta1^step, beta2^step */

	if (!mask || !order) {
		rc = -ENOMEM;
		goto out;
	}
	decay_mask(n, mask);
	*train_bpb = *val_bpb = 0;
	for (int ep = 0; ep < tr->o.epochs; ep++) {
		double ep_loss = 0;
		size_t ep_bytes = 0, next = 0;

		for (size_t i = 0; i < tr->ntrain; i++)
			order[i] = i;
		for (size_t i = tr->ntrain; i > 1; i--) {
			size_t j = rng_next(&rng) % i, t = order[i - 1];
			order[i - 1] = order[j];
			order[j] = t;
		}
		for (int i = 0; i < tr->o.batch; i++)
			tr->slots[i].sr = NULL;
		for (;;) {
			size_t bytes = 0;
			for (int i = 0; i < tr->o.batch; i++) {
				slot_fill(tr, &tr->slots[i], order, &next);
				if (tr->slots[i].sr)
					bytes += (size_t)tr->slots[i].T;
			}
			if (!bytes)
				break;
			tr->scale = 1.0 / (double)bytes;
			net_prepare(n);
			rc = run_threads(tr, worker_step);
			if (rc)
				goto out;
			/* sum in slot order */
			memset(tr->gsum, 0, P * sizeof(double));
			for (int i = 0; i < tr->o.batch; i++) {
				struct slot *s = &tr->slots[i];
				if (!s->sr)
					continue;
				for (size_t k = 0; k < P; k++)
					tr->gsum[k] += s->grad[k];
				ep_loss += s->loss;
				s->pos += (size_t)s->T;
			}
			ep_bytes += bytes;
			double norm = 0;
			for (size_t k = 0; k < P; k++)
				norm += tr->gsum[k] * tr->gsum[k];
			norm = sqrt(norm);
			double clip = norm > 1.0 ? 1.0 / norm : 1.0;
			step++;
			double frac = (double)step / (double)total_steps, lr;
			if (step < warm)
				lr = tr->o.lr * (double)step / (double)warm;
			else
				lr = tr->o.lr * (0.1 + 0.9 * 0.5 *
				                           (1.0 + tcos(3.141592653589793 *
				                                       (frac < 1 ? frac : 1))));
			double b1 = 0.9, b2 = 0.999;
			b1t *= b1;
			b2t *= b2;
			double c1 = 1.0 - b1t, c2 = 1.0 - b2t;
			for (size_t k = 0; k < P; k++) {
				double g = tr->gsum[k] * clip;
				tr->m1[k] = b1 * tr->m1[k] + (1 - b1) * g;
				tr->m2[k] = b2 * tr->m2[k] + (1 - b2) * g * g;
				double upd = (tr->m1[k] / c1) / (sqrt(tr->m2[k] / c2) + 1e-8);
				if (mask[k])
					upd += tr->o.wd * n->w[k];
				n->w[k] -= lr * upd;
			}
			if (tr->o.progress && step % 5 == 0) {
				struct boa_train_progress pr = {
				    .epoch = ep + 1,
				    .epochs = tr->o.epochs,
				    .epoch_fraction = (double)ep_bytes / (double)tr->train_bytes,
				    .train_bpb = ep_loss / (double)ep_bytes / log(2.0),
				    .lr = lr,
				    .seconds = now_s() - t0,
				};

				tr->o.progress(tr->o.progress_arg, &pr);
			}
			if (tr->o.max_seconds > 0 && now_s() - t0 >= tr->o.max_seconds) {
				tr->out_of_time = 1;
				break;
			}
		}
		tr->epochs_run = ep + 1;
		*train_bpb = ep_bytes ? ep_loss / (double)ep_bytes / log(2.0) : 0;
		rc = net_eval_val(tr, val_bpb);
		if (rc)
			goto out;
		rc = write_model(n, tr->o.out, NULL, NULL); /* a checkpoint per epoch */
		if (rc)
			goto out;
		if (tr->o.progress) {
			struct boa_train_progress pr = {
			    .epoch = ep + 1,
			    .epochs = tr->o.epochs,
			    .epoch_fraction = 1,
			    .train_bpb = *train_bpb,
			    .val_bpb = *val_bpb,
			    .seconds = now_s() - t0,
			    .epoch_done = 1,
			};

			tr->o.progress(tr->o.progress_arg, &pr);
		}
		if (tr->out_of_time)
			break;
	}
	net_prepare(n);
	*steps_out = step;
out:
	free(mask);
	free(order);
	return rc;
}

/* Writes the network's .boam image to `path` through `path`.tmp and a rename, so that a
 * reader (or a run killed mid-write) never sees half a model. */
static int write_model(const struct boa_train_net *n, const char *path, uint8_t **img_out,
                       size_t *len_out)
{
	uint8_t *img = NULL;
	size_t len = 0;
	char tmp[4096];
	FILE *f;
	int rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	rc = boa_train_net_encode(n, &img, &len);
	if (rc)
		return rc;
	f = fopen(tmp, "wb");
	if (!f) {
		rc = -errno;
		goto out;
	}
	if (fwrite(img, 1, len, f) != len)
		rc = -EIO;
	if (fclose(f) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc)
		unlink(tmp);
out:
	if (!rc && img_out) {
		*img_out = img;
		*len_out = len;
	} else {
		free(img);
	}
	return rc;
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = NULL;
	size_t cap = 0, n = 0;
	int rc = 0;

	if (!f)
		return -errno;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 1 << 16;
			uint8_t *nb = realloc(b, cap);
			if (!nb) {
				rc = -ENOMEM;
				goto out;
			}
			b = nb;
		}
		size_t r = fread(b + n, 1, cap - n, f);
		n += r;
		if (r == 0) {
			if (ferror(f))
				rc = -EIO;
			break;
		}
	}
out:
	fclose(f);
	if (rc) {
		free(b);
		return rc;
	}
	*out = b;
	*len = n;
	return 0;
}

void boa_train_opts_default(struct boa_train_opts *o)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	*o = (struct boa_train_opts){.dim = 32,
	                             .layers = 2,
	                             .seq_len = 256,
	                             .epochs = 10,
	                             .threads = ncpu > 0 ? (int)(ncpu < 64 ? ncpu : 64) : 1,
	                             .batch = 16,
	                             .stream_len = 8192,
	                             .lr = 3e-3,
	                             .val_split = 0.1,
	                             .wd = 0.01,
	                             .seed = 1};
}

int boa_train(const struct boa_train_opts *opts, const char *const *files, int nfiles,
              struct boa_train_result *res, char *err, size_t errlen)
{
	struct trainer tr;
	struct boa_train_opts *o = &tr.o;
	uint8_t **data = calloc((size_t)nfiles + 1, sizeof(uint8_t *));
	size_t *lens = calloc((size_t)nfiles + 1, sizeof(size_t));
	int rc, nslots_ok = 0;
	uint8_t *img = NULL;
	size_t img_len = 0;

	memset(&tr, 0, sizeof(tr));
	memset(res, 0, sizeof(*res));
	*o = *opts;
	if (err && errlen)
		err[0] = 0;
	if (!data || !lens) {
		rc = -ENOMEM;
		goto out;
	}

	/* data: per file, a training head and a validation tail, cut into streams */
	size_t max_streams = 0;
	for (int i = 0; i < nfiles; i++) {
		rc = read_file(files[i], &data[i], &lens[i]);
		if (rc) {
			boa_model_seterr(err, errlen, "%s: %s", files[i], strerror(-rc));
			goto out;
		}
		max_streams += lens[i] / (size_t)o->stream_len + 2;
	}
	tr.train = calloc(max_streams + 1, sizeof(*tr.train));
	tr.val = calloc(max_streams + 1, sizeof(*tr.val));
	if (!tr.train || !tr.val) {
		rc = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < nfiles; i++) {
		size_t nv = (size_t)((double)lens[i] * o->val_split), nt = lens[i] - nv;
		for (size_t p = 0; p < nt; p += (size_t)o->stream_len) {
			size_t l = nt - p < (size_t)o->stream_len ? nt - p : (size_t)o->stream_len;
			tr.train[tr.ntrain++] = (struct stream_ref){data[i] + p, l};
			tr.train_bytes += l;
		}
		for (size_t p = 0; p < nv; p += (size_t)o->stream_len) {
			size_t l = nv - p < (size_t)o->stream_len ? nv - p : (size_t)o->stream_len;
			tr.val[tr.nval++] = (struct stream_ref){data[i] + nt + p, l};
			tr.val_bytes += l;
		}
	}
	if (!tr.train_bytes) {
		boa_model_seterr(err, errlen, "no training bytes");
		rc = -EINVAL;
		goto out;
	}

	rc = boa_train_net_new(o->dim, o->layers, &tr.n);
	if (rc) {
		boa_model_seterr(err, errlen, "cannot make a dim %d x %d model: %s", o->dim,
		                 o->layers, strerror(-rc));
		goto out;
	}
	boa_train_net_init(tr.n, o->seed);
	size_t P = tr.n->P;
	tr.slots = calloc((size_t)o->batch, sizeof(*tr.slots));
	tr.work = calloc((size_t)o->threads, sizeof(*tr.work));
	tr.m1 = calloc(P, sizeof(double));
	tr.m2 = calloc(P, sizeof(double));
	tr.gsum = calloc(P, sizeof(double));
	if (!tr.slots || !tr.work || !tr.m1 || !tr.m2 || !tr.gsum)
		goto oom;
	for (int i = 0; i < o->batch; i++, nslots_ok++) {
		struct slot *s = &tr.slots[i];
		s->in = malloc((size_t)o->seq_len);
		s->tgt = malloc((size_t)o->seq_len);
		s->grad = malloc(P * sizeof(double));
		if (!s->in || !s->tgt || !s->grad || tstate_new(tr.n, &s->st)) {
			nslots_ok++;
			goto oom;
		}
	}
	for (int i = 0; i < o->threads; i++)
		if (twork_init(&tr.work[i], tr.n, o->seq_len))
			goto oom;

	double train_bpb = 0, val_bpb = 0, t0 = now_s();
	size_t steps = 0;
	rc = train_run(&tr, &train_bpb, &val_bpb, &steps);
	if (rc)
		goto out;
	rc = write_model(tr.n, o->out, &img, &img_len);
	if (rc) {
		boa_model_seterr(err, errlen, "cannot write %s: %s", o->out, strerror(-rc));
		goto out;
	}
	struct boa_model *m = NULL;
	uint32_t id = 0;
	if (!boa_model_load(img, img_len, &m, NULL, 0))
		id = boa_model_id(m);
	boa_model_free(m);
	res->model_id = id;
	res->params = P;
	res->train_bytes = tr.train_bytes;
	res->val_bytes = tr.val_bytes;
	res->steps = steps;
	res->epochs_run = tr.epochs_run;
	res->out_of_time = tr.out_of_time;
	res->seconds = now_s() - t0;
	res->train_bpb = train_bpb;
	res->val_bpb = val_bpb;
	rc = 0;
	goto out;
oom:
	rc = -ENOMEM;
out:
	if (tr.slots)
		for (int i = 0; i < nslots_ok && i < o->batch; i++) {
			free(tr.slots[i].in);
			free(tr.slots[i].tgt);
			free(tr.slots[i].grad);
			tstate_free(&tr.slots[i].st);
		}
	if (tr.work)
		for (int i = 0; i < o->threads; i++)
			twork_free(&tr.work[i]);
	free(tr.slots);
	free(tr.work);
	free(tr.m1);
	free(tr.m2);
	free(tr.gsum);
	free(tr.train);
	free(tr.val);
	boa_train_net_free(tr.n);
	free(img);
	for (int i = 0; i < nfiles; i++)
		free(data[i]);
	free(data);
	free(lens);
	return rc;
}
