/* Suite 'model': the Mamba byte model — its predictions, its file format, its trainer. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "boa_model.h"
#include "boa_model_impl.h"
#include "boa_train.h"

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rnd_sym(uint64_t *s) /* [-1, 1) */
{
	return (double)(rnd(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* A model with every weight away from its initial value, so that no path is trivially 0/1. */
static struct boa_train_net *random_net(int dim, int layers, uint64_t seed, double noise)
{
	struct boa_train_net *n = NULL;
	assert_int_equal(boa_train_net_new(dim, layers, &n), 0);
	boa_train_net_init(n, seed);
	double *w = boa_train_net_weights(n);
	for (size_t i = 0; i < boa_train_net_params(n); i++)
		w[i] += noise * rnd_sym(&seed);
	return n;
}

static uint8_t *net_image(struct boa_train_net *n, size_t *len)
{
	uint8_t *img = NULL;
	assert_int_equal(boa_train_net_encode(n, &img, len), 0);
	return img;
}

static struct boa_model *load_ok(const uint8_t *img, size_t len)
{
	struct boa_model *m = NULL;
	char err[200] = "";
	int rc = boa_model_load(img, len, &m, err, sizeof(err));
	if (rc)
		fail_msg("load: %s", err);
	return m;
}

static void check_freq(const uint32_t f[256])
{
	uint32_t sum = 0;
	for (int i = 0; i < 256; i++) {
		assert_true(f[i] >= 1);
		sum += f[i];
	}
	assert_int_equal(sum, 1u << BOA_PROB_BITS);
}

/* ---- scalar and AVX2 agree bit for bit ---- */

static int cpu_has_avx2(void)
{
#ifdef BOA_HAVE_AVX2_KERNELS
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2");
#else
	return 0;
#endif
}

static void test_scalar_and_avx2_predictions_are_bit_identical(void **state)
{
	static const int shapes[][2] = {{8, 1}, {16, 1}, {24, 2}, {32, 2}, {40, 1}, {64, 3}};
	uint64_t seed = 42;

	if (!cpu_has_avx2())
		skip();
	for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
		struct boa_train_net *n = random_net(shapes[k][0], shapes[k][1], 100 + k, 0.3);
		size_t len;
		uint8_t *img = net_image(n, &len);
		struct boa_model *ms = load_ok(img, len), *mv = load_ok(img, len);
		struct boa_stream *ss, *sv;
		assert_int_equal(boa_model_set_kernels(ms, "scalar"), 0);
		assert_int_equal(boa_model_set_kernels(mv, "avx2"), 0);
		assert_string_equal(boa_model_kernels(mv), "avx2");
		assert_int_equal(boa_stream_new(ms, &ss), 0);
		assert_int_equal(boa_stream_new(mv, &sv), 0);
		for (int t = 0; t < 600; t++) {
			uint32_t fs[256], fv[256];
			boa_stream_predict(ss, fs);
			boa_stream_predict(sv, fv);
			check_freq(fs);
			assert_memory_equal(fs, fv, sizeof(fs));
			/* the float state too, not only its quantised shadow */
			assert_memory_equal(ss->u, sv->u, (size_t)ms->dim * sizeof(float));
			assert_memory_equal(ss->logits, sv->logits, 256 * sizeof(float));
			assert_memory_equal(ss->h, sv->h,
			                    (size_t)ms->hp.layers * ms->S * ms->E * sizeof(float));
			/* text-like bytes, runs and random ones */
			uint8_t b = t % 97 < 40   ? (uint8_t)('a' + t % 26)
			            : t % 97 < 60 ? 0
			                          : (uint8_t)rnd(&seed);
			boa_stream_update(ss, b);
			boa_stream_update(sv, b);
		}
		boa_stream_free(ss);
		boa_stream_free(sv);
		boa_model_free(ms);
		boa_model_free(mv);
		free(img);
		boa_train_net_free(n);
	}
}

/* ---- batched streams give each stream exactly its single-stream predictions ---- */

static void test_matmat_matches_matvec_per_stream(void **state)
{
	static const int dims[][2] = {{1, 8}, {3, 16}, {17, 24}, {64, 40}, {5, 256}, {33, 72}};
	const struct boa_kernels *ks[2] = {&boa_kernels_scalar, NULL};
	uint64_t seed = 7;

#ifdef BOA_HAVE_AVX2_KERNELS
	if (cpu_has_avx2())
		ks[1] = &boa_kernels_avx2;
#endif
	for (size_t k = 0; k < sizeof(dims) / sizeof(dims[0]); k++) {
		int nin = dims[k][0], nout = dims[k][1];
		float *wt = malloc((size_t)nin * nout * sizeof(float));
		float *bias = malloc((size_t)nout * sizeof(float));
		float *in[9], *want[9], *got[9];
		const float *cin[9];
		for (int i = 0; i < nin * nout; i++)
			wt[i] = (float)rnd_sym(&seed);
		for (int o = 0; o < nout; o++)
			bias[o] = (float)rnd_sym(&seed);
		for (int j = 0; j < 9; j++) {
			in[j] = malloc((size_t)nin * sizeof(float));
			want[j] = malloc((size_t)nout * sizeof(float));
			got[j] = malloc((size_t)nout * sizeof(float));
			for (int i = 0; i < nin; i++)
				in[j][i] = (float)(rnd_sym(&seed) * 100.0);
			cin[j] = in[j];
		}
		for (int n = 1; n <= 9; n++)
			for (int kk = 0; kk < 2 && ks[kk]; kk++)
				for (int b = 0; b < 2; b++) {
					const float *bs = b ? bias : NULL;
					for (int j = 0; j < n; j++)
						boa_kernels_scalar.matvec(want[j], wt, in[j], nin,
						                          nout, bs);
					ks[kk]->matmat(got, wt, cin, nin, nout, bs, n);
					for (int j = 0; j < n; j++)
						assert_memory_equal(want[j], got[j],
						                    (size_t)nout * sizeof(float));
				}
		for (int j = 0; j < 9; j++) {
			free(in[j]);
			free(want[j]);
			free(got[j]);
		}
		free(wt);
		free(bias);
	}
}

/* Stream j of a batch of n sees its own bytes: text, runs and noise, shifted per stream. */
static uint8_t batch_byte(int t, int j, uint64_t *seed)
{
	int u = t + 13 * j;
	return u % 89 < 35   ? (uint8_t)('a' + (u + j) % 26)
	       : u % 89 < 50 ? (uint8_t)j
	                     : (uint8_t)rnd(seed);
}

static void batched_matches_single(const uint8_t *img, size_t len, const char *kernels, int n,
                                   int steps)
{
	struct boa_model *ref = load_ok(img, len), *mb = load_ok(img, len);
	struct boa_stream **single = calloc((size_t)n, sizeof(*single));
	struct boa_stream **batch = calloc((size_t)n, sizeof(*batch));
	uint32_t(*fb)[256] = calloc((size_t)n, sizeof(*fb));
	uint8_t *bytes = calloc((size_t)n, 1);
	uint64_t seed = 99 + (uint64_t)n;

	assert_int_equal(boa_model_set_kernels(ref, "scalar"), 0);
	assert_int_equal(boa_model_set_kernels(mb, kernels), 0);
	for (int j = 0; j < n; j++) {
		assert_int_equal(boa_stream_new(ref, &single[j]), 0);
		assert_int_equal(boa_stream_new(mb, &batch[j]), 0);
	}
	for (int t = 0; t < steps; t++) {
		/* now and then one stream has already predicted alone: its cached freq must stay */
		if (t % 5 == 1) {
			uint32_t f[256];
			boa_stream_predict(batch[t % n], f);
		}
		assert_int_equal(boa_streams_predict(batch, n, fb), 0);
		for (int j = 0; j < n; j++) {
			uint32_t fs[256];
			boa_stream_predict(single[j], fs);
			check_freq(fb[j]);
			if (memcmp(fs, fb[j], sizeof(fs)))
				fail_msg("%s n=%d: stream %d differs at byte %d", kernels, n, j, t);
			assert_memory_equal(single[j]->u, batch[j]->u,
			                    (size_t)ref->dim * sizeof(float));
			assert_memory_equal(single[j]->h, batch[j]->h,
			                    (size_t)ref->hp.layers * ref->S * ref->E *
			                        sizeof(float));
			bytes[j] = batch_byte(t, j, &seed);
			boa_stream_update(single[j], bytes[j]);
		}
		assert_int_equal(boa_streams_update(batch, n, bytes), 0);
	}
	for (int j = 0; j < n; j++) {
		boa_stream_free(single[j]);
		boa_stream_free(batch[j]);
	}
	free(single);
	free(batch);
	free(fb);
	free(bytes);
	boa_model_free(ref);
	boa_model_free(mb);
}

static void test_batched_streams_predict_as_single_streams(void **state)
{
	static const int shapes[][2] = {{8, 1}, {16, 2}, {24, 1}, {40, 2}};
	static const int ns[] = {1, 3, 8, 13, 20}; /* 20: more than one internal slice */
	static const char *const kernels[] = {"scalar", "avx2"};

	for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
		struct boa_train_net *net = random_net(shapes[k][0], shapes[k][1], 300 + k, 0.3);
		size_t len;
		uint8_t *img = net_image(net, &len);
		for (int kk = 0; kk < 2; kk++) {
			if (kk == 1 && !cpu_has_avx2())
				continue;
			for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
				batched_matches_single(img, len, kernels[kk], ns[i], 120);
		}
		free(img);
		boa_train_net_free(net);
	}
}

static void test_batched_streams_of_different_models_are_refused(void **state)
{
	struct boa_train_net *net = random_net(8, 1, 5, 0.1);
	size_t len;
	uint8_t *img = net_image(net, &len);
	struct boa_model *m1 = load_ok(img, len), *m2 = load_ok(img, len);
	struct boa_stream *s[2];
	uint32_t f[2][256];
	uint8_t bytes[2] = {1, 2};

	assert_int_equal(boa_stream_new(m1, &s[0]), 0);
	assert_int_equal(boa_stream_new(m2, &s[1]), 0);
	assert_int_equal(boa_streams_predict(s, 2, f), -EINVAL);
	assert_int_equal(boa_streams_update(s, 2, bytes), -EINVAL);
	assert_int_equal(boa_streams_update(s, 0, bytes), 0);
	boa_stream_free(s[0]);
	boa_stream_free(s[1]);
	boa_model_free(m1);
	boa_model_free(m2);
	free(img);
	boa_train_net_free(net);
}

static void test_math_functions_agree_between_kernels(void **state)
{
	/* elementwise kernels on awkward inputs: huge, tiny, zero, negative zero, near
	 * thresholds (softplus 20, exp clamps) */
	float in[64], a[64], b[64];
	uint64_t seed = 9;
	const float special[] = {0.0f,   -0.0f,  1e-30f,  -1e-30f, 19.999f, 20.0f, 20.001f, 88.0f,
	                         -87.0f, 100.0f, -100.0f, 1e30f,   -1e30f,  0.5f,  -0.5f,   3.0f};

	if (!cpu_has_avx2())
		skip();
#ifdef BOA_HAVE_AVX2_KERNELS
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 64; i++)
			in[i] = i < 16 && round == 0
			            ? special[i]
			            : (float)(rnd_sym(&seed) * pow(10.0, (double)(rnd(&seed) % 5)));
		memcpy(a, in, sizeof(in));
		memcpy(b, in, sizeof(in));
		boa_kernels_scalar.softplus(a, 64);
		boa_kernels_avx2.softplus(b, 64);
		assert_memory_equal(a, b, sizeof(a));
		memcpy(a, in, sizeof(in));
		memcpy(b, in, sizeof(in));
		boa_kernels_scalar.gelu(a, 64);
		boa_kernels_avx2.gelu(b, 64);
		assert_memory_equal(a, b, sizeof(a));
		float sa = boa_kernels_scalar.softmax_exp(a, in, 64);
		float sb = boa_kernels_avx2.softmax_exp(b, in, 64);
		assert_memory_equal(&sa, &sb, sizeof(sa));
		assert_memory_equal(a, b, sizeof(a));
	}
#endif
}

static void test_own_exp_and_log_are_accurate(void **state)
{
	for (double x = -80; x < 80; x += 0.37) {
		float xf = (float)x;
		double e = exp(xf), g = bm_exp(xf);
		assert_true(fabs(g - e) <= 4e-7 * e);
	}
	for (double u = 1; u < 1e8; u *= 1.37) {
		float uf = (float)u;
		double l = log(uf), g = bm_log(uf);
		assert_true(fabs(g - l) <= 1e-6 * (l > 1 ? l : 1));
	}
	for (double v = 1e-6; v < 1e6; v *= 1.7)
		assert_true(fabs(bm_rsqrt((float)v) - 1 / sqrt((float)v)) <= 1e-6 / sqrt(v));
	for (double x = -30; x < 30; x += 0.13) {
		float xf = (float)x;
		double sp = xf > 20 ? xf : log1p(exp(xf));
		assert_true(fabs(bm_softplus(xf) - sp) <= 1e-6 * (sp > 1e-3 ? sp : 1e-3));
	}
}

/* ---- predictions ---- */

static void test_predictions_are_distributions_and_reset_repeats_them(void **state)
{
	struct boa_train_net *n = random_net(16, 2, 5, 0.5);
	size_t len;
	uint8_t *img = net_image(n, &len);
	struct boa_model *m = load_ok(img, len);
	struct boa_stream *s;
	uint32_t first[50][256], f[256];
	const char *text = "<event> 5 1 +1.0 91.18 0.0078 0.118 </event> 13 -13 23 1 2";

	assert_int_equal(boa_stream_new(m, &s), 0);
	for (int round = 0; round < 2; round++) {
		boa_stream_reset(s);
		for (int t = 0; t < 50; t++) {
			boa_stream_predict(s, f);
			check_freq(f);
			if (round == 0)
				memcpy(first[t], f, sizeof(f));
			else
				assert_memory_equal(first[t], f, sizeof(f));
			boa_stream_predict(s, f); /* predicting twice changes nothing */
			assert_memory_equal(first[t], f, sizeof(f));
			boa_stream_update(s, (uint8_t)text[t]);
		}
	}
	boa_stream_free(s);
	boa_model_free(m);
	free(img);
	boa_train_net_free(n);
}

static void test_inference_matches_training_forward(void **state)
{
	/* the float32 inference and the float64 training pass are the same network */
	struct boa_train_net *n = random_net(16, 2, 77, 0.2);
	const uint8_t bytes[] = "Zmumu 91.1876 2.4952 -13 13 0.0 0.0 45.6 -45.6 1 1 1 1 ...";
	int len = (int)sizeof(bytes) - 1;
	double nats = boa_train_net_loss(n, bytes, len, NULL), bits = 0;
	size_t ilen;
	uint8_t *img = net_image(n, &ilen);
	struct boa_model *m = load_ok(img, ilen);
	struct boa_stream *s;
	uint32_t f[256];

	assert_int_equal(boa_stream_new(m, &s), 0);
	for (int t = 0; t < len; t++) {
		boa_stream_predict(s, f);
		bits -= log2(f[bytes[t]] / 65536.0);
		boa_stream_update(s, bytes[t]);
	}
	double ref = nats / log(2.0);
	assert_true(fabs(bits - ref) < 0.01 * ref + 0.1);
	boa_stream_free(s);
	boa_model_free(m);
	free(img);
	boa_train_net_free(n);
}

/* ---- gradients ---- */

static void test_gradients_match_finite_differences_in_every_layer(void **state)
{
	struct boa_train_net *n = random_net(8, 2, 3, 0.3);
	const uint8_t bytes[] = "ab\x00\xff"
	                        "abcab12";
	int len = (int)sizeof(bytes) - 1;
	size_t P = boa_train_net_params(n);
	double *g = malloc(P * sizeof(double)), *w = boa_train_net_weights(n);
	uint64_t seed = 11;
	char name[64];
	size_t off, glen;
	int groups = 0;

	/* dt larger than its initial value so the scan's decay matters */
	for (int i = 0; boa_train_net_group(n, i, name, &off, &glen) == 0; i++)
		if (strstr(name, "dt_proj.bias"))
			for (size_t k = 0; k < glen; k++)
				w[off + k] = 0.5 * rnd_sym(&seed);
	assert_non_null(g);
	boa_train_net_loss(n, bytes, len, g);
	for (int i = 0; boa_train_net_group(n, i, name, &off, &glen) == 0; i++, groups++) {
		double worst = 0;
		int checked = 0;
		for (int trial = 0; trial < 12; trial++) {
			size_t k;
			if (!strcmp(name, "embedding")) /* rows of bytes that occur */
				k = (size_t)(trial % 2 ? bytes[trial % len] : 'a') * 8 + trial % 8;
			else
				k = (size_t)(rnd(&seed) % glen);
			size_t p = off + k;
			double keep = w[p], eps = 1e-5 * (fabs(keep) > 1 ? fabs(keep) : 1);
			w[p] = keep + eps;
			double lp = boa_train_net_loss(n, bytes, len, NULL);
			w[p] = keep - eps;
			double lm = boa_train_net_loss(n, bytes, len, NULL);
			w[p] = keep;
			double num = (lp - lm) / (2 * eps), ana = g[p];
			double scale = fabs(num) > fabs(ana) ? fabs(num) : fabs(ana);
			if (scale < 1e-6)
				continue; /* below the finite differences' noise (loss ~ 20 nats) */
			double rel = fabs(num - ana) / scale;
			worst = rel > worst ? rel : worst;
			checked++;
			if (rel >= 1e-3)
				fail_msg("%s[%zu]: analytic %.10g, numeric %.10g, rel err %.2e",
				         name, k, ana, num, rel);
		}
		if (!checked)
			fail_msg("%s: no element with a gradient to check", name);
	}
	assert_int_equal(groups, 1 + 2 * 17 + 4);
	free(g);
	boa_train_net_free(n);
}

/* ---- the model file ---- */

static void test_model_file_round_trips(void **state)
{
	struct boa_train_net *n = random_net(24, 2, 8, 0.1);
	size_t len;
	uint8_t *img = net_image(n, &len);
	struct boa_model *m = load_ok(img, len), *m2 = NULL;
	char path[] = "/tmp/boafs-model-XXXXXX", err[200];
	int fd = mkstemp(path), dim, layers;
	size_t params;
	uint64_t trailer = 0;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, img, len), (ssize_t)len);
	close(fd);
	assert_int_equal(boa_model_load_file(path, &m2, err, sizeof(err)), 0);
	unlink(path);
	boa_model_shape(m, &dim, &layers, &params);
	assert_int_equal(dim, 24);
	assert_int_equal(layers, 2);
	assert_int_equal(params, boa_train_net_params(n));
	assert_int_equal(len, 40 + 4 * params + 8);
	for (int i = 0; i < 8; i++)
		trailer |= (uint64_t)img[len - 8 + i] << (8 * i);
	assert_int_equal(boa_model_id(m), (uint32_t)trailer);
	assert_int_equal(boa_model_id(m2), boa_model_id(m));
	/* the weights come back exactly: same predictions */
	struct boa_stream *a, *b;
	assert_int_equal(boa_stream_new(m, &a), 0);
	assert_int_equal(boa_stream_new(m2, &b), 0);
	for (int t = 0; t < 64; t++) {
		uint32_t fa[256], fb[256];
		boa_stream_predict(a, fa);
		boa_stream_predict(b, fb);
		assert_memory_equal(fa, fb, sizeof(fa));
		boa_stream_update(a, (uint8_t)(t * 7));
		boa_stream_update(b, (uint8_t)(t * 7));
	}
	/* and re-encoding the float32 weights gives the same file */
	uint8_t *img2 = NULL;
	size_t len2;
	const double *w = boa_train_net_weights(n);
	float *f = malloc(params * sizeof(float));
	struct boa_hparams hp;
	for (size_t i = 0; i < params; i++)
		f[i] = (float)w[i];
	boa_model_hparams(m, &hp);
	assert_int_equal(boa_model_encode(&hp, f, &img2, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(img2, img, len);
	free(f);
	free(img2);
	boa_stream_free(a);
	boa_stream_free(b);
	boa_model_free(m);
	boa_model_free(m2);
	free(img);
	boa_train_net_free(n);
}

static void expect_refused(const uint8_t *img, size_t len, const char *what)
{
	struct boa_model *m = (struct boa_model *)1;
	char err[200] = "";
	assert_int_equal(boa_model_load(img, len, &m, err, sizeof(err)), -EINVAL);
	assert_null(m);
	if (what && !strstr(err, what))
		fail_msg("message \"%s\" does not say \"%s\"", err, what);
	assert_true(strlen(err) > 10);
}

static void test_truncated_model_is_refused(void **state)
{
	struct boa_train_net *n = random_net(16, 1, 1, 0.1);
	size_t len;
	uint8_t *img = net_image(n, &len);

	expect_refused(img, 0, "magic");
	expect_refused(img, 3, "magic");
	expect_refused(img, 6, "truncated");
	expect_refused(img, 8, "truncated");
	expect_refused(img, 47, "truncated");
	expect_refused(img, 48, "truncated");
	expect_refused(img, len / 2, "truncated");
	expect_refused(img, len - 1, "truncated");
	expect_refused(img, len - 8, "truncated");
	free(img);
	boa_train_net_free(n);
}

static void test_bit_flipped_model_is_refused(void **state)
{
	struct boa_train_net *n = random_net(16, 1, 2, 0.1);
	size_t len;
	uint8_t *img = net_image(n, &len);

	for (size_t i = 0; i < len; i += (i < 64 || i > len - 16) ? 1 : 37) {
		for (int bit = 0; bit < 8; bit += (i < 64 ? 1 : 3)) {
			img[i] ^= (uint8_t)(1u << bit);
			expect_refused(img, len, NULL);
			img[i] ^= (uint8_t)(1u << bit);
		}
	}
	img[100] ^= 4;
	expect_refused(img, len, "checksum");
	img[100] ^= 4;
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, img, len);
	longer[len] = 0;
	expect_refused(longer, len + 1, "trailing");
	free(longer);
	free(img);
	boa_train_net_free(n);
}

static void test_unknown_version_is_refused(void **state)
{
	struct boa_train_net *n = random_net(16, 1, 2, 0.1);
	size_t len;
	uint8_t *img = net_image(n, &len);

	img[4] = 2;
	expect_refused(img, len, "version 2");
	img[4] = 1;
	img[16] = 1; /* vocab 257 */
	expect_refused(img, len, "vocab");
	img[16] = 0;
	img[8] = 12; /* dim 12 */
	expect_refused(img, len, "dim");
	free(img);
	boa_train_net_free(n);
}

/* ---- training ---- */

static char *hep(const char *name)
{
	const char *dir = getenv("HEP_DATA");
	static char path[4][1024];
	static int k;
	char *p = path[k++ % 4];
	snprintf(p, 1024, "%s/%s", dir ? dir : "tests/data/hep", name);
	return p;
}

static uint8_t *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc((size_t)n + 1);
	if (fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void train_tiny(const char *data, const char *out, const char *seed, const char *threads,
                       const char *epochs)
{
	struct boa_train_opts o;
	struct boa_train_result res;
	const char *files[] = {data};
	char err[256];

	boa_train_opts_default(&o);
	o.out = out;
	o.dim = 8;
	o.layers = 1;
	o.seq_len = 32;
	o.epochs = atoi(epochs);
	o.batch = 4;
	o.stream_len = 512;
	o.seed = (uint64_t)atoi(seed);
	o.threads = atoi(threads);
	o.val_split = 0.2;
	assert_int_equal(boa_train(&o, files, 1, &res, err, sizeof(err)), 0);
}

static void test_same_seed_trains_byte_identical_models(void **state)
{
	size_t len, a_len, b_len, c_len, d_len;
	uint8_t *src = read_all(hep("pylhe-testfile-powheg-box-v2-Z.lhe"), &len);
	char data[] = "/tmp/boafs-train-data-XXXXXX";
	char a[] = "/tmp/boafs-train-a-XXXXXX", b[] = "/tmp/boafs-train-b-XXXXXX";
	char c[] = "/tmp/boafs-train-c-XXXXXX", d[] = "/tmp/boafs-train-d-XXXXXX";

	if (!src)
		skip();
	int fd = mkstemp(data);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, src, 6000), 6000);
	close(fd);
	close(mkstemp(a));
	close(mkstemp(b));
	close(mkstemp(c));
	close(mkstemp(d));
	train_tiny(data, a, "7", "1", "1");
	train_tiny(data, b, "7", "1", "1");
	train_tiny(data, c, "7", "3", "1"); /* the thread count does not matter either */
	train_tiny(data, d, "8", "1", "1");
	uint8_t *ia = read_all(a, &a_len), *ib = read_all(b, &b_len), *ic = read_all(c, &c_len),
	        *id = read_all(d, &d_len);
	assert_int_equal(a_len, b_len);
	assert_memory_equal(ia, ib, a_len);
	assert_int_equal(a_len, c_len);
	assert_memory_equal(ia, ic, a_len);
	assert_int_equal(a_len, d_len);
	assert_true(memcmp(ia, id, a_len) != 0);
	struct boa_model *m = load_ok(ia, a_len);
	boa_model_free(m);
	unlink(data);
	unlink(a);
	unlink(b);
	unlink(c);
	unlink(d);
	free(ia);
	free(ib);
	free(ic);
	free(id);
	free(src);
}

static void test_training_lowers_the_loss(void **state)
{
	struct boa_train_net *n = random_net(8, 1, 4, 0.0);
	size_t len;
	uint8_t *src = read_all(hep("pylhe-testfile-powheg-box-v2-Z.lhe"), &len);
	char data[] = "/tmp/boafs-train-data-XXXXXX", out[] = "/tmp/boafs-train-o-XXXXXX";
	double before, after;

	if (!src)
		skip();
	int fd = mkstemp(data);
	assert_int_equal(write(fd, src, 6000), 6000);
	close(fd);
	close(mkstemp(out));
	size_t ilen;
	uint8_t *img = net_image(n, &ilen);
	assert_int_equal(boa_train_eval_bpb(img, ilen, src, 6000, 512, 1, &before), 0);
	free(img);
	train_tiny(data, out, "4", "2", "4");
	img = read_all(out, &ilen);
	assert_int_equal(boa_train_eval_bpb(img, ilen, src, 6000, 512, 1, &after), 0);
	print_message("bits/byte before %.3f, after %.3f\n", before, after);
	assert_true(before > 7.0);
	assert_true(after < before - 1.0);
	unlink(data);
	unlink(out);
	free(img);
	free(src);
	boa_train_net_free(n);
}

/* ---- the built-in models ---- */

static void builtin_on_hep(const char *name, double limit)
{
	struct boa_model *m = NULL;
	size_t len;
	uint8_t *src = read_all(hep("uproot-Zmumu-uncompressed.root"), &len);
	if (!src)
		skip();
	if (!strcmp(name, "default"))
		assert_int_equal(boa_model_load_default(&m), 0);
	else
		assert_int_equal(boa_model_load_builtin(name, &m), 0);
	size_t mlen = 0;
	int dim, layers;
	size_t params;
	boa_model_shape(m, &dim, &layers, &params);
	mlen = 48 + 4 * params;
	assert_true(mlen <= 4u << 20);
	/* bits per byte on 32 KiB of a ROOT file, through the public API */
	struct boa_stream *s;
	double bits = 0;
	size_t n = len < 32768 ? len : 32768;
	assert_int_equal(boa_stream_new(m, &s), 0);
	for (size_t i = 0; i < n; i++) {
		uint32_t f[256];
		boa_stream_predict(s, f);
		bits -= log2(f[src[i]] / 65536.0);
		boa_stream_update(s, src[i]);
	}
	double bpb = bits / (double)n;
	print_message("%s model (dim %d, %d layers, %zu params): %.3f bits/byte\n", name, dim,
	              layers, params, bpb);
	assert_true(bpb < limit);
	boa_stream_free(s);
	boa_model_free(m);
	assert_int_equal(boa_model_load_builtin("nonesuch", &m), -ENOENT);
	assert_null(m);
	free(src);
}

/* The built-in models' predictions over 64 KiB of a ROOT file, digested: the values every build
 * (gcc or clang, -O0 or -O3 -march=native, scalar or AVX2) must compute. A retrained model
 * changes them; a change in a build that did not retrain is a determinism bug. */
static void golden(const char *name, const char *kernels, uint64_t want)
{
	struct boa_model *m = NULL;
	struct boa_stream *s;
	size_t len;
	uint8_t *src = read_all(hep("uproot-sample-6.20.04-uncompressed.root"), &len);
	uint32_t f[256];
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over the frequencies, little-endian */

	if (!src)
		skip();
	assert_int_equal(boa_model_load_builtin(name, &m), 0);
	if (boa_model_set_kernels(m, kernels)) {
		boa_model_free(m);
		free(src);
		skip();
	}
	assert_int_equal(boa_stream_new(m, &s), 0);
	for (size_t i = 0; i < len && i < 65536; i++) {
		boa_stream_predict(s, f);
		for (int k = 0; k < 256; k++)
			for (int b = 0; b < 4; b++)
				h = (h ^ ((f[k] >> (8 * b)) & 0xff)) * 0x100000001b3ull;
		boa_stream_update(s, src[i]);
	}
	if (h != want)
		fail_msg("%s/%s: digest %016llx, expected %016llx", name, kernels,
		         (unsigned long long)h, (unsigned long long)want);
	boa_stream_free(s);
	boa_model_free(m);
	free(src);
}

#define GOLDEN_DEFAULT 0x87c8c5f2ba03e522ull
#define GOLDEN_FAST    0x8c53673cd8c7f663ull

static void test_builtin_models_predict_golden_values(void **state)
{
	golden("default", "scalar", GOLDEN_DEFAULT);
	golden("fast", "scalar", GOLDEN_FAST);
	golden("default", "avx2", GOLDEN_DEFAULT);
	golden("fast", "avx2", GOLDEN_FAST);
}

static void test_default_model_predicts_hep_data(void **state)
{
	builtin_on_hep("default", 8.0);
}

static void test_fast_model_predicts_hep_data(void **state)
{
	builtin_on_hep("fast", 8.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scalar_and_avx2_predictions_are_bit_identical),
	    cmocka_unit_test(test_math_functions_agree_between_kernels),
	    cmocka_unit_test(test_matmat_matches_matvec_per_stream),
	    cmocka_unit_test(test_batched_streams_predict_as_single_streams),
	    cmocka_unit_test(test_batched_streams_of_different_models_are_refused),
	    cmocka_unit_test(test_own_exp_and_log_are_accurate),
	    cmocka_unit_test(test_predictions_are_distributions_and_reset_repeats_them),
	    cmocka_unit_test(test_inference_matches_training_forward),
	    cmocka_unit_test(test_gradients_match_finite_differences_in_every_layer),
	    cmocka_unit_test(test_model_file_round_trips),
	    cmocka_unit_test(test_truncated_model_is_refused),
	    cmocka_unit_test(test_bit_flipped_model_is_refused),
	    cmocka_unit_test(test_unknown_version_is_refused),
	    cmocka_unit_test(test_same_seed_trains_byte_identical_models),
	    cmocka_unit_test(test_training_lowers_the_loss),
	    cmocka_unit_test(test_default_model_predicts_hep_data),
	    cmocka_unit_test(test_fast_model_predicts_hep_data),
	    cmocka_unit_test(test_builtin_models_predict_golden_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
