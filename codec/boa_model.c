/* boa_model — .boam model files, and the Mamba byte model's forward pass, one byte at a time.
 *
 * The .boam format (all integers little-endian, version 1):
 *
 *   offset  size  field
 *   0       4     magic "BOAM" (42 4f 41 4d)
 *   4       4     u32 version = 1
 *   8       4     u32 dim       d, the model width; a multiple of 8, 8..1024
 *   12      4     u32 layers    N, the number of Mamba blocks, 1..16
 *   16      4     u32 vocab     256
 *   20      4     u32 d_state   S, the SSM state per channel, 1..64 (BOA: 16)
 *   24      4     u32 d_conv    K, the causal convolution width, 1..8 (BOA: 4)
 *   28      4     u32 expand    E = expand * d inner channels, 1..4 (BOA: 2)
 *   32      4     u32 dt_rank   R, 1..d (BOA: ceil(d / 16))
 *   36      4     u32 reserved, 0
 *   40      4*P   float32 weights, IEEE 754 little-endian, every one finite, in this order
 *                 (matrices row-major [out][in], as PyTorch's nn.Linear stores them):
 *                   embedding            [256][d]
 *                   for each of the N blocks:
 *                     ln1.weight [d], ln1.bias [d]
 *                     in_proj.weight       [2E][d]   rows 0..E-1 give x, rows E..2E-1 give z
 *                     conv1d.weight        [E][K]    tap k multiplies the input at t-(K-1)+k
 *                     conv1d.bias          [E]
 *                     x_proj.weight        [R+2S][E] rows: dt (R), B (S), C (S)
 *                     dt_proj.weight       [E][R]
 *                     dt_proj.bias         [E]
 *                     A_log                [E][S]    A = -exp(A_log)
 *                     D                    [E]
 *                     out_proj.weight      [d][E]
 *                     ln2.weight [d], ln2.bias [d]
 *                     ff1.weight [4d][d], ff1.bias [4d]
 *                     ff2.weight [d][4d], ff2.bias [d]
 *                   head1.weight [d][d], head1.bias [d]
 *                   head2.weight [256][d], head2.bias [256]
 *   40+4P   8     u64 XXH64 (seed 0) of bytes [0, 40+4P)
 *
 * The model id is the low 32 bits of that checksum.
 *
 * The network, per byte b (pre-norm residual blocks):
 *   u = embedding[b]
 *   per block: u += Mamba(LayerNorm1(u)); u += FF(LayerNorm2(u)), FF = ff2(GELU(ff1(.)))
 *   Mamba: x,z = in_proj(u); x = silu(conv1d(x over the last K inputs)); dt,B,C = x_proj(x);
 *          dt = softplus(dt_proj(dt)); h = exp(dt*A)*h + (dt*x)*B; y = (C.h + D*x)*silu(z);
 *          out_proj(y)
 *   logits = head2(relu(head1(u))); freq = quantised softmax(logits)
 * LayerNorm uses eps 1e-5; GELU is the tanh form written as x*sigmoid(.).
 *
 * Start of a chunk: the state is zero and the model is stepped once with byte 0, so the first
 * real byte is predicted as if the chunk were preceded by one 0 byte. The trainer does the same.
 *
 * Quantisation: p = exp(logit - max); f_i = 1 + trunc(min(max(p_i * (65280 / sum p), 0), 65280));
 * what is left to reach 65536 (positive or negative) goes to the first symbol of largest f. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <xxhash.h>

#include "boa_model_impl.h"
#include "byteorder.h"

#ifdef __FAST_MATH__
#error "the BOA model must not be built with -ffast-math: predictions would differ between builds"
#endif

#define LN_EPS 1e-5f

void boa_model_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The header's byte layout (the table at the top of this file). Fields are byte arrays, so the
 * compiler adds no padding: sizeof and offsetof are the format, and the asserts hold them to
 * that table. boa_model_encode and the loader write and read at these offsets (BOAM_AT). */
struct boam_header {
	uint8_t magic[4], version[4], dim[4], layers[4], vocab[4], d_state[4], d_conv[4], expand[4],
	    dt_rank[4], reserved[4];
};
#define BOAM_AT(b, field) ((b) + offsetof(struct boam_header, field))

static_assert(sizeof(struct boam_header) == BOAM_HEADER_BYTES, ".boam header: 40 bytes");
static_assert(
    offsetof(struct boam_header, version) == 4 && offsetof(struct boam_header, dim) == 8 &&
        offsetof(struct boam_header, layers) == 12 && offsetof(struct boam_header, vocab) == 16 &&
        offsetof(struct boam_header, d_state) == 20 && offsetof(struct boam_header, d_conv) == 24 &&
        offsetof(struct boam_header, expand) == 28 && offsetof(struct boam_header, dt_rank) == 32 &&
        offsetof(struct boam_header, reserved) == 36,
    ".boam header layout as in the table above");

static int round8(int n)
{
	return (n + 7) & ~7;
}

size_t boa_hparams_params(const struct boa_hparams *hp)
{
	size_t d = hp->dim, E = (size_t)hp->expand * d, S = hp->d_state, K = hp->d_conv;
	size_t R = hp->dt_rank, V = hp->vocab;
	size_t block = 2 * d + 2 * E * d + E * K + E + (R + 2 * S) * E + E * R + E + E * S + E +
	               d * E + 2 * d + 4 * d * d + 4 * d + 4 * d * d + d;
	return V * d + hp->layers * block + d * d + d + V * d + V;
}

int boa_hparams_check(const struct boa_hparams *hp, char *err, size_t errlen)
{
	if (hp->dim < 8 || hp->dim > 1024 || hp->dim % 8) {
		boa_model_seterr(err, errlen, "model dim %u is not a multiple of 8 in 8..1024",
		                 hp->dim);
		return -EINVAL;
	}
	if (hp->layers < 1 || hp->layers > 16) {
		boa_model_seterr(err, errlen, "model layers %u is outside 1..16", hp->layers);
		return -EINVAL;
	}
	if (hp->vocab != BOA_VOCAB) {
		boa_model_seterr(err, errlen, "model vocab %u is not 256", hp->vocab);
		return -EINVAL;
	}
	if (hp->d_state < 1 || hp->d_state > 64) {
		boa_model_seterr(err, errlen, "model d_state %u is outside 1..64", hp->d_state);
		return -EINVAL;
	}
	if (hp->d_conv < 1 || hp->d_conv > 8) {
		boa_model_seterr(err, errlen, "model d_conv %u is outside 1..8", hp->d_conv);
		return -EINVAL;
	}
	if (hp->expand < 1 || hp->expand > 4) {
		boa_model_seterr(err, errlen, "model expand %u is outside 1..4", hp->expand);
		return -EINVAL;
	}
	if (hp->dt_rank < 1 || hp->dt_rank > hp->dim) {
		boa_model_seterr(err, errlen, "model dt_rank %u is outside 1..dim (%u)",
		                 hp->dt_rank, hp->dim);
		return -EINVAL;
	}
	return 0;
}

int boa_model_encode(const struct boa_hparams *hp, const float *weights, uint8_t **out,
                     size_t *out_len)
{
	size_t P = boa_hparams_params(hp);
	size_t len = BOAM_HEADER_BYTES + 4 * P + BOAM_TRAILER_BYTES;
	uint8_t *b = malloc(len);

	if (!b)
		return -ENOMEM;
	memcpy(BOAM_AT(b, magic), BOAM_MAGIC, 4);
	le32_put(BOAM_AT(b, version), BOAM_VERSION);
	le32_put(BOAM_AT(b, dim), hp->dim);
	le32_put(BOAM_AT(b, layers), hp->layers);
	le32_put(BOAM_AT(b, vocab), hp->vocab);
	le32_put(BOAM_AT(b, d_state), hp->d_state);
	le32_put(BOAM_AT(b, d_conv), hp->d_conv);
	le32_put(BOAM_AT(b, expand), hp->expand);
	le32_put(BOAM_AT(b, dt_rank), hp->dt_rank);
	le32_put(BOAM_AT(b, reserved), 0);
	for (size_t i = 0; i < P; i++)
		le32_put(b + BOAM_HEADER_BYTES + 4 * i, bm_bits(weights[i]));
	le64_put(b + len - 8, XXH64(b, len - 8, 0));
	*out = b;
	*out_len = len;
	return 0;
}

/* Reads `rows` x `cols` row-major weights ([out][in]) into dst as [in][out_pad]. */
static const uint8_t *load_transposed(float *dst, const uint8_t *src, int rows, int cols,
                                      int rows_pad)
{
	for (int r = 0; r < rows; r++)
		for (int c = 0; c < cols; c++)
			dst[(size_t)c * rows_pad + r] =
			    bm_float(le32_get(src + 4 * ((size_t)r * cols + c)));
	return src + 4 * (size_t)rows * cols;
}

static const uint8_t *load_plain(float *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = bm_float(le32_get(src + 4 * i));
	return src + 4 * n;
}

/* Hands out 32-byte aligned slices of the arena. */
static float *take(float **cur, size_t n)
{
	float *p = *cur;
	*cur += (n + 7) & ~(size_t)7;
	return p;
}

static const struct boa_kernels *best_kernels(void)
{
#ifdef BOA_HAVE_AVX2_KERNELS
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2"))
		return &boa_kernels_avx2;
#endif
	return &boa_kernels_scalar;
}

int boa_model_set_kernels(struct boa_model *m, const char *name)
{
	if (!strcmp(name, "auto")) {
		m->k = best_kernels();
		return 0;
	}
	if (!strcmp(name, "scalar")) {
		m->k = &boa_kernels_scalar;
		return 0;
	}
#ifdef BOA_HAVE_AVX2_KERNELS
	if (!strcmp(name, "avx2")) {
		__builtin_cpu_init();
		if (!__builtin_cpu_supports("avx2"))
			return -ENOTSUP;
		m->k = &boa_kernels_avx2;
		return 0;
	}
#endif
	return -ENOTSUP;
}

const char *boa_model_kernels(const struct boa_model *m)
{
	return m->k->name;
}

int boa_model_load(const void *bytes, size_t len, struct boa_model **out, char *err, size_t errlen)
{
	const uint8_t *b = bytes;
	struct boa_hparams hp;
	struct boa_model *m = NULL;
	int rc;

	*out = NULL;
	if (len < 4 || memcmp(BOAM_AT(b, magic), BOAM_MAGIC, 4)) {
		boa_model_seterr(err, errlen, "not a BOA model: missing magic \"BOAM\"");
		return -EINVAL;
	}
	if (len < 8) {
		boa_model_seterr(err, errlen, "model truncated: %zu bytes, no version", len);
		return -EINVAL;
	}
	if (le32_get(BOAM_AT(b, version)) != BOAM_VERSION) {
		boa_model_seterr(err, errlen, "unsupported model version %u (this build reads %u)",
		                 le32_get(BOAM_AT(b, version)), BOAM_VERSION);
		return -EINVAL;
	}
	if (len < BOAM_HEADER_BYTES + BOAM_TRAILER_BYTES) {
		boa_model_seterr(err, errlen,
		                 "model truncated: %zu bytes, shorter than header and trailer",
		                 len);
		return -EINVAL;
	}
	hp.dim = le32_get(BOAM_AT(b, dim));
	hp.layers = le32_get(BOAM_AT(b, layers));
	hp.vocab = le32_get(BOAM_AT(b, vocab));
	hp.d_state = le32_get(BOAM_AT(b, d_state));
	hp.d_conv = le32_get(BOAM_AT(b, d_conv));
	hp.expand = le32_get(BOAM_AT(b, expand));
	hp.dt_rank = le32_get(BOAM_AT(b, dt_rank));
	rc = boa_hparams_check(&hp, err, errlen);
	if (rc)
		return rc;
	if (le32_get(BOAM_AT(b, reserved)) != 0) {
		boa_model_seterr(err, errlen, "model header reserved field is %u, not 0",
		                 le32_get(BOAM_AT(b, reserved)));
		return -EINVAL;
	}
	size_t P = boa_hparams_params(&hp);
	size_t want = BOAM_HEADER_BYTES + 4 * P + BOAM_TRAILER_BYTES;
	if (len < want) {
		boa_model_seterr(err, errlen,
		                 "model truncated: %zu bytes, a dim %u x %u layer model needs %zu",
		                 len, hp.dim, hp.layers, want);
		return -EINVAL;
	}
	if (len > want) {
		boa_model_seterr(err, errlen, "model has %zu trailing bytes after its checksum",
		                 len - want);
		return -EINVAL;
	}
	uint64_t sum = XXH64(b, len - 8, 0), stored = le64_get(b + len - 8);
	if (sum != stored) {
		boa_model_seterr(err, errlen,
		                 "model checksum mismatch: stored %016llx, computed %016llx",
		                 (unsigned long long)stored, (unsigned long long)sum);
		return -EINVAL;
	}
	for (size_t i = 0; i < P; i++) {
		float w = bm_float(le32_get(b + BOAM_HEADER_BYTES + 4 * i));
		if (!(w - w == 0.0f)) {
			boa_model_seterr(err, errlen, "model weight %zu is not finite", i);
			return -EINVAL;
		}
	}

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->hp = hp;
	m->dim = (int)hp.dim;
	m->E = (int)(hp.expand * hp.dim);
	m->S = (int)hp.d_state;
	m->R = (int)hp.dt_rank;
	m->K = (int)hp.d_conv;
	m->ff = 4 * m->dim;
	m->xp_n = m->R + 2 * m->S;
	m->xp_pad = round8(m->xp_n);
	m->params = P;
	m->id = (uint32_t)sum;
	m->k = best_kernels();
	m->layer = calloc(hp.layers, sizeof(*m->layer));
	int d = m->dim, E = m->E, S = m->S, R = m->R, K = m->K, F = m->ff;
	size_t per_layer = 2 * (size_t)d + (size_t)d * 2 * E + (size_t)K * E + E +
	                   (size_t)E * m->xp_pad + (size_t)R * E + E + (size_t)S * E + E +
	                   (size_t)E * d + 2 * (size_t)d + (size_t)d * F + F + (size_t)F * d + d;
	size_t arena = 256 * (size_t)d + hp.layers * (per_layer + 16 * 8) + (size_t)d * d + d +
	               (size_t)d * 256 + 256 + 64;
	m->arena = aligned_alloc(32, ((arena * sizeof(float)) + 31) & ~(size_t)31);
	if (!m->layer || !m->arena) {
		rc = -ENOMEM;
		goto fail;
	}
	memset(m->arena, 0, arena * sizeof(float));

	float *cur = m->arena, *w;
	const uint8_t *src = b + BOAM_HEADER_BYTES;
	w = take(&cur, 256 * (size_t)d);
	src = load_plain(w, src, 256 * (size_t)d);
	m->emb = w;
	for (uint32_t l = 0; l < hp.layers; l++) {
		struct boa_layer *L = &m->layer[l];
		float *g = take(&cur, d), *bb = take(&cur, d);
		src = load_plain(g, src, d);
		src = load_plain(bb, src, d);
		L->ln1_g = g;
		L->ln1_b = bb;
		w = take(&cur, (size_t)d * 2 * E);
		src = load_transposed(w, src, 2 * E, d, 2 * E);
		L->in_t = w;
		w = take(&cur, (size_t)K * E);
		src = load_transposed(w, src, E, K, E);
		L->conv_w = w;
		w = take(&cur, E);
		src = load_plain(w, src, E);
		L->conv_b = w;
		w = take(&cur, (size_t)E * m->xp_pad);
		src = load_transposed(w, src, m->xp_n, E, m->xp_pad);
		L->xp_t = w;
		w = take(&cur, (size_t)R * E);
		src = load_transposed(w, src, E, R, E);
		L->dtp_t = w;
		w = take(&cur, E);
		src = load_plain(w, src, E);
		L->dt_b = w;
		w = take(&cur, (size_t)S * E);
		src = load_transposed(w, src, E, S, E);
		for (size_t i = 0; i < (size_t)S * E; i++)
			w[i] = -bm_exp(w[i]);
		L->A = w;
		w = take(&cur, E);
		src = load_plain(w, src, E);
		L->D = w;
		w = take(&cur, (size_t)E * d);
		src = load_transposed(w, src, d, E, d);
		L->out_t = w;
		g = take(&cur, d);
		bb = take(&cur, d);
		src = load_plain(g, src, d);
		src = load_plain(bb, src, d);
		L->ln2_g = g;
		L->ln2_b = bb;
		w = take(&cur, (size_t)d * F);
		src = load_transposed(w, src, F, d, F);
		L->ff1_t = w;
		w = take(&cur, F);
		src = load_plain(w, src, F);
		L->ff1_b = w;
		w = take(&cur, (size_t)F * d);
		src = load_transposed(w, src, d, F, d);
		L->ff2_t = w;
		w = take(&cur, d);
		src = load_plain(w, src, d);
		L->ff2_b = w;
	}
	w = take(&cur, (size_t)d * d);
	src = load_transposed(w, src, d, d, d);
	m->h1_t = w;
	w = take(&cur, d);
	src = load_plain(w, src, d);
	m->h1_b = w;
	w = take(&cur, (size_t)d * 256);
	src = load_transposed(w, src, 256, d, 256);
	m->h2_t = w;
	w = take(&cur, 256);
	src = load_plain(w, src, 256);
	m->h2_b = w;
	if (src != b + len - 8 || cur > m->arena + arena) {
		boa_model_seterr(err, errlen, "internal error: model layout size mismatch");
		rc = -EINVAL;
		goto fail;
	}
	*out = m;
	return 0;
fail:
	boa_model_free(m);
	return rc;
}

int boa_model_load_file(const char *path, struct boa_model **out, char *err, size_t errlen)
{
	FILE *f = NULL;
	uint8_t *buf = NULL;
	long n;
	int rc;

	*out = NULL;
	f = fopen(path, "rb");
	if (!f) {
		rc = -errno;
		boa_model_seterr(err, errlen, "cannot open model %s: %s", path, strerror(errno));
		return rc;
	}
	{
		struct stat st;

		/* A directory opens fine and "sizes" as LONG_MAX: only regular files are models. */
		if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
			rc = -EINVAL;
			boa_model_seterr(err, errlen, "model %s: not a regular file", path);
			goto out;
		}
	}
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		rc = -errno;
		boa_model_seterr(err, errlen, "cannot size model %s: %s", path, strerror(errno));
		goto out;
	}
	buf = malloc(n ? (size_t)n : 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		rc = -EIO;
		boa_model_seterr(err, errlen, "cannot read model %s", path);
		goto out;
	}
	rc = boa_model_load(buf, (size_t)n, out, err, errlen);
out:
	free(buf);
	fclose(f);
	return rc;
}

void boa_model_free(struct boa_model *m)
{
	if (!m)
		return;
	free(m->layer);
	free(m->arena);
	free(m);
}

uint32_t boa_model_id(const struct boa_model *m)
{
	return m->id;
}

void boa_model_shape(const struct boa_model *m, int *dim, int *layers, size_t *params)
{
	if (dim)
		*dim = m->dim;
	if (layers)
		*layers = (int)m->hp.layers;
	if (params)
		*params = m->params;
}

int boa_model_hparams(const struct boa_model *m, struct boa_hparams *hp)
{
	*hp = m->hp;
	return 0;
}

/* ---- streams ---- */

int boa_stream_new(const struct boa_model *m, struct boa_stream **out)
{
	struct boa_stream *s = calloc(1, sizeof(*s));
	int d = m->dim, E = m->E, L = (int)m->hp.layers;
	size_t n = 0;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->m = m;
	s->k = m->k;
	size_t conv = (size_t)L * (m->K - 1) * E, h = (size_t)L * m->S * E;
	size_t sizes[] = {conv, h, d, d, 2 * (size_t)E, E, m->xp_pad, E, E, d, m->ff, d, 256, 256};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		n += (sizes[i] + 7) & ~(size_t)7;
	s->mem = aligned_alloc(32, n * sizeof(float) + 32);
	if (!s->mem) {
		free(s);
		return -ENOMEM;
	}
	float *cur = s->mem;
	s->conv = take(&cur, conv);
	s->h = take(&cur, h);
	s->u = take(&cur, d);
	s->a = take(&cur, d);
	s->xz = take(&cur, 2 * (size_t)E);
	s->xc = take(&cur, E);
	s->dbc = take(&cur, m->xp_pad);
	s->dt = take(&cur, E);
	s->y = take(&cur, E);
	s->mo = take(&cur, d);
	s->f = take(&cur, m->ff);
	s->hh = take(&cur, d);
	s->logits = take(&cur, 256);
	s->p = take(&cur, 256);
	boa_stream_reset(s);
	*out = s;
	return 0;
}

void boa_stream_free(struct boa_stream *s)
{
	if (!s)
		return;
	free(s->mem);
	free(s);
}

/* The streams one batched step works on; more are done in slices of this many. */
#define STEP_BATCH 16

/* Each stream's buffers as the kernels take them: outputs (float *) and inputs (const). */
struct batch {
	float *u[STEP_BATCH], *a[STEP_BATCH], *xz[STEP_BATCH], *xc[STEP_BATCH], *dbc[STEP_BATCH],
	    *dt[STEP_BATCH], *y[STEP_BATCH], *mo[STEP_BATCH], *f[STEP_BATCH], *hh[STEP_BATCH],
	    *logits[STEP_BATCH];
	const float *in_u[STEP_BATCH], *in_a[STEP_BATCH], *in_xc[STEP_BATCH], *in_dbc[STEP_BATCH],
	    *in_y[STEP_BATCH], *in_f[STEP_BATCH], *in_hh[STEP_BATCH];
};

static void batch_init(struct batch *b, struct boa_stream *const *s, int n)
{
	for (int j = 0; j < n; j++) {
		b->u[j] = s[j]->u;
		b->a[j] = s[j]->a;
		b->xz[j] = s[j]->xz;
		b->xc[j] = s[j]->xc;
		b->dbc[j] = s[j]->dbc;
		b->dt[j] = s[j]->dt;
		b->y[j] = s[j]->y;
		b->mo[j] = s[j]->mo;
		b->f[j] = s[j]->f;
		b->hh[j] = s[j]->hh;
		b->logits[j] = s[j]->logits;
		b->in_u[j] = s[j]->u;
		b->in_a[j] = s[j]->a;
		b->in_xc[j] = s[j]->xc;
		b->in_dbc[j] = s[j]->dbc;
		b->in_y[j] = s[j]->y;
		b->in_f[j] = s[j]->f;
		b->in_hh[j] = s[j]->hh;
	}
}

/* One step of the network for n (<= STEP_BATCH) streams of one model, stream j taking input
 * byte bytes[j]: advances every block's state and leaves the residual stream in s[j]->u. Each
 * stream gets exactly the operations it would get alone; only the matrix products are shared
 * (matmat), so that each weight is read once per step of the batch. */
static void streams_step(struct boa_stream *const *s, int n, const uint8_t *bytes)
{
	const struct boa_model *m = s[0]->m;
	const struct boa_kernels *k = s[0]->k;
	int d = m->dim, E = m->E, S = m->S, R = m->R, K = m->K, F = m->ff;
	struct batch b;

	batch_init(&b, s, n);
	for (int j = 0; j < n; j++)
		memcpy(b.u[j], m->emb + (size_t)bytes[j] * d, (size_t)d * sizeof(float));
	for (uint32_t l = 0; l < m->hp.layers; l++) {
		const struct boa_layer *L = &m->layer[l];

		for (int j = 0; j < n; j++)
			k->layernorm(b.a[j], b.u[j], L->ln1_g, L->ln1_b, d);
		k->matmat(b.xz, L->in_t, b.in_a, d, 2 * E, NULL, n);
		for (int j = 0; j < n; j++) {
			float *win = s[j]->conv + (size_t)l * (K - 1) * E;

			k->conv_silu(b.xc[j], win, b.xz[j], L->conv_w, L->conv_b, K, E);
			if (K > 1) {
				memmove(win, win + E, (size_t)(K - 2) * E * sizeof(float));
				memcpy(win + (size_t)(K - 2) * E, b.xz[j],
				       (size_t)E * sizeof(float));
			}
		}
		k->matmat(b.dbc, L->xp_t, b.in_xc, E, m->xp_pad, NULL, n);
		k->matmat(b.dt, L->dtp_t, b.in_dbc, R, E, L->dt_b, n);
		for (int j = 0; j < n; j++) {
			float *h = s[j]->h + (size_t)l * S * E;

			k->softplus(b.dt[j], E);
			k->scan(b.y[j], h, L->A, b.dt[j], b.xc[j], b.dbc[j] + R, b.dbc[j] + R + S,
			        L->D, b.xz[j] + E, S, E);
		}
		k->matmat(b.mo, L->out_t, b.in_y, E, d, NULL, n);
		for (int j = 0; j < n; j++) {
			float *u = b.u[j], *mo = b.mo[j];

			for (int i = 0; i < d; i++)
				u[i] = u[i] + mo[i];
			k->layernorm(b.a[j], u, L->ln2_g, L->ln2_b, d);
		}
		k->matmat(b.f, L->ff1_t, b.in_a, d, F, L->ff1_b, n);
		for (int j = 0; j < n; j++)
			k->gelu(b.f[j], F);
		k->matmat(b.mo, L->ff2_t, b.in_f, F, d, L->ff2_b, n);
		for (int j = 0; j < n; j++) {
			float *u = b.u[j], *mo = b.mo[j];

			for (int i = 0; i < d; i++)
				u[i] = u[i] + mo[i];
		}
	}
	for (int j = 0; j < n; j++)
		s[j]->freq_valid = 0;
}

/* s->freq from s->logits: quantised softmax (see the top of this file). */
static void stream_quantize(struct boa_stream *s)
{
	const struct boa_kernels *k = s->k;
	float sum = k->softmax_exp(s->p, s->logits, 256);
	uint32_t total = 0, best = 0;
	int argmax = 0;

	s->freq_valid = 1;
	if (!(sum >= 1.0f && sum <= 256.0f)) { /* non-finite logits: say nothing */
		for (int i = 0; i < 256; i++)
			s->freq[i] = (1 << BOA_PROB_BITS) / 256;
		return;
	}
	k->quantize(s->q, s->p, 65280.0f / sum, 256);
	for (int i = 0; i < 256; i++) {
		uint32_t f = 1 + (uint32_t)s->q[i];
		s->freq[i] = f;
		total += f;
		if (f > best) {
			best = f;
			argmax = i;
		}
	}
	s->freq[argmax] =
	    (uint32_t)((int64_t)s->freq[argmax] + (1 << BOA_PROB_BITS) - (int64_t)total);
}

/* The head for n (<= STEP_BATCH) streams of one model whose freq is not valid. */
static void streams_head(struct boa_stream *const *s, int n)
{
	const struct boa_model *m = s[0]->m;
	const struct boa_kernels *k = s[0]->k;
	int d = m->dim;
	struct batch b;

	batch_init(&b, s, n);
	k->matmat(b.hh, m->h1_t, b.in_u, d, d, m->h1_b, n);
	for (int j = 0; j < n; j++) {
		float *hh = b.hh[j];

		for (int i = 0; i < d; i++)
			hh[i] = hh[i] > 0.0f ? hh[i] : 0.0f;
	}
	k->matmat(b.logits, m->h2_t, b.in_hh, d, 256, m->h2_b, n);
	for (int j = 0; j < n; j++)
		stream_quantize(s[j]);
}

void boa_stream_reset(struct boa_stream *s)
{
	const struct boa_model *m = s->m;
	size_t L = m->hp.layers;
	uint8_t zero = 0;

	memset(s->conv, 0, L * (m->K - 1) * m->E * sizeof(float));
	memset(s->h, 0, L * m->S * m->E * sizeof(float));
	streams_step(&s, 1, &zero);
}

void boa_stream_predict(struct boa_stream *s, uint32_t freq[256])
{
	if (!s->freq_valid)
		streams_head(&s, 1);
	memcpy(freq, s->freq, sizeof(s->freq));
}

void boa_stream_update(struct boa_stream *s, uint8_t byte)
{
	streams_step(&s, 1, &byte);
}

static int streams_check(struct boa_stream *const *s, int n)
{
	if (n < 0)
		return -EINVAL;
	for (int j = 1; j < n; j++)
		if (s[j]->m != s[0]->m)
			return -EINVAL;
	return 0;
}

int boa_streams_predict(struct boa_stream *const *s, int n, uint32_t (*freq)[256])
{
	struct boa_stream *stale[STEP_BATCH];
	int rc = streams_check(s, n), nstale = 0;

	if (rc)
		return rc;
	for (int j = 0; j < n; j++) {
		if (!s[j]->freq_valid)
			stale[nstale++] = s[j];
		if (nstale == STEP_BATCH || (j == n - 1 && nstale)) {
			streams_head(stale, nstale);
			nstale = 0;
		}
	}
	for (int j = 0; j < n; j++)
		memcpy(freq[j], s[j]->freq, sizeof(s[j]->freq));
	return 0;
}

int boa_streams_update(struct boa_stream *const *s, int n, const uint8_t *bytes)
{
	int rc = streams_check(s, n);

	if (rc)
		return rc;
	for (int j = 0; j < n; j += STEP_BATCH)
		streams_step(s + j, n - j < STEP_BATCH ? n - j : STEP_BATCH, bytes + j);
	return 0;
}

/* ---- scalar reference kernels ---- */

static void matvec_scalar(float *out, const float *wt, const float *in, int nin, int nout,
                          const float *bias)
{
	for (int o = 0; o < nout; o++)
		out[o] = bias ? bias[o] : 0.0f;
	for (int i = 0; i < nin; i++) {
		const float *w = wt + (size_t)i * nout;
		float x = in[i];
		for (int o = 0; o < nout; o++)
			out[o] = out[o] + w[o] * x;
	}
}

/* Weights row by row as matvec_scalar, each row applied to every stream before the next. */
static void matmat_scalar(float *const *out, const float *wt, const float *const *in, int nin,
                          int nout, const float *bias, int n)
{
	for (int j = 0; j < n; j++)
		for (int o = 0; o < nout; o++)
			out[j][o] = bias ? bias[o] : 0.0f;
	for (int i = 0; i < nin; i++) {
		const float *w = wt + (size_t)i * nout;
		for (int j = 0; j < n; j++) {
			float x = in[j][i], *oj = out[j];
			for (int o = 0; o < nout; o++)
				oj[o] = oj[o] + w[o] * x;
		}
	}
}

static void layernorm_scalar(float *y, const float *x, const float *g, const float *b, int n)
{
	float mean = bm_sum8(x, n) / (float)n;
	for (int i = 0; i < n; i++) {
		float c = x[i] - mean;
		y[i] = c * c;
	}
	float var = bm_sum8(y, n) / (float)n;
	float rstd = bm_rsqrt(var + LN_EPS);
	for (int i = 0; i < n; i++) {
		float c = x[i] - mean;
		c = c * rstd;
		c = c * g[i];
		y[i] = c + b[i];
	}
}

static void conv_silu_scalar(float *xc, const float *win, const float *xnew, const float *w,
                             const float *b, int K, int E)
{
	for (int e = 0; e < E; e++) {
		float acc = b[e];
		for (int k = 0; k < K - 1; k++)
			acc = acc + w[(size_t)k * E + e] * win[(size_t)k * E + e];
		acc = acc + w[(size_t)(K - 1) * E + e] * xnew[e];
		xc[e] = bm_silu(acc);
	}
}

static void softplus_scalar(float *v, int n)
{
	for (int i = 0; i < n; i++)
		v[i] = bm_softplus(v[i]);
}

static void gelu_scalar(float *v, int n)
{
	for (int i = 0; i < n; i++)
		v[i] = bm_gelu(v[i]);
}

static void scan_scalar(float *y, float *h, const float *A, const float *dt, const float *x,
                        const float *B, const float *C, const float *D, const float *z, int S,
                        int E)
{
	for (int e = 0; e < E; e++) {
		float dtx = dt[e] * x[e], acc = 0.0f;
		for (int s = 0; s < S; s++) {
			float *hp = &h[(size_t)s * E + e];
			float da = bm_exp(dt[e] * A[(size_t)s * E + e]);
			float hv = da * *hp;
			hv = hv + dtx * B[s];
			*hp = hv;
			acc = acc + C[s] * hv;
		}
		acc = acc + D[e] * x[e];
		y[e] = acc * bm_silu(z[e]);
	}
}

static float softmax_exp_scalar(float *p, const float *v, int n)
{
	float mx = v[0];
	for (int i = 1; i < n; i++)
		mx = v[i] > mx ? v[i] : mx;
	for (int i = 0; i < n; i++)
		p[i] = bm_exp(v[i] - mx);
	return bm_sum8(p, n);
}

static void quantize_scalar(int32_t *q, const float *p, float scale, int n)
{
	for (int i = 0; i < n; i++) {
		float a = p[i] * scale;
		a = a < 65280.0f ? a : 65280.0f;
		a = a > 0.0f ? a : 0.0f;
		q[i] = (int32_t)a;
	}
}

const struct boa_kernels boa_kernels_scalar = {
    .name = "scalar",
    .matvec = matvec_scalar,
    .matmat = matmat_scalar,
    .layernorm = layernorm_scalar,
    .conv_silu = conv_silu_scalar,
    .softplus = softplus_scalar,
    .gelu = gelu_scalar,
    .scan = scan_scalar,
    .softmax_exp = softmax_exp_scalar,
    .quantize = quantize_scalar,
};

/* ---- built-in models (codec/models/NAME.boam, embedded by codec/models/embed.py) ---- */

extern const uint8_t boa_model_default_bytes[];
extern const size_t boa_model_default_len;
extern const uint8_t boa_model_fast_bytes[];
extern const size_t boa_model_fast_len;

int boa_model_load_builtin(const char *name, struct boa_model **out)
{
	char err[160];

	if (!strcmp(name, "default"))
		return boa_model_load(boa_model_default_bytes, boa_model_default_len, out, err,
		                      sizeof(err));
	if (!strcmp(name, "fast"))
		return boa_model_load(boa_model_fast_bytes, boa_model_fast_len, out, err,
		                      sizeof(err));
	*out = NULL;
	return -ENOENT;
}

int boa_model_builtin_bytes(const char *name, const void **bytes, size_t *len)
{
	if (!strcmp(name, "default")) {
		*bytes = boa_model_default_bytes;
		*len = boa_model_default_len;
		return 0;
	}
	if (!strcmp(name, "fast")) {
		*bytes = boa_model_fast_bytes;
		*len = boa_model_fast_len;
		return 0;
	}
	return -ENOENT;
}

int boa_model_load_default(struct boa_model **out)
{
	return boa_model_load_builtin("default", out);
}
