/* The BOA coder: the arithmetic coder, every level's round trip on awkward and real data, and
 * refusal of damaged chunks. Levels that need the Mamba run when the built-in model loads. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include <dirent.h>
#include <cmocka.h>

#include "boa.h"
#include "boa_model.h"
#include "codec.h"
#include "mix_ac.h"
#include "mix_mixer.h"

struct fixture {
	struct boa_model *model; /* NULL when the build or the default model has none */
	struct boa_ctx *ctx;
};

/* splitmix64: random enough that no model finds structure in it */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	if (boa_model_load_default(&f->model))
		f->model = NULL;
	assert_int_equal(boa_ctx_new(&f->ctx), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	boa_ctx_free(f->ctx);
	boa_model_free(f->model);
	free(f);
	return 0;
}

static int level_runs(const struct fixture *f, int level)
{
	return boa_level_uses_model(level) == 0 || f->model;
}

/* Encodes and decodes `len` bytes at `level`; returns the encoded size. */
static size_t round_trip(struct fixture *f, int level, const uint8_t *data, size_t len)
{
	size_t cap = boa_bound(len), out_len = 0;
	uint8_t *enc = malloc(cap), *dec = malloc(len + 1);

	assert_non_null(enc);
	assert_non_null(dec);
	assert_int_equal(boa_ctx_encode(f->ctx, f->model, level, data, len, enc, cap, &out_len), 0);
	assert_true(out_len <= cap);
	assert_int_equal(enc[0] >> 4, BOA_CHUNK_VERSION); /* written in today's format */
	assert_int_equal(boa_ctx_decode(f->ctx, f->model, enc, out_len, dec, len), 0);
	assert_memory_equal(dec, data, len);
	/* the one-shot form decodes the same chunk */
	memset(dec, 0xa5, len);
	assert_int_equal(boa_decode(f->model, enc, out_len, dec, len), 0);
	assert_memory_equal(dec, data, len);
	free(enc);
	free(dec);
	return out_len;
}

static void test_arithmetic_coder_round_trips_any_probabilities(void **state)
{
	enum { N = 200000 };
	uint8_t *buf = malloc(N), *bits = malloc(N);
	uint32_t *probs = malloc(N * sizeof(uint32_t));
	uint64_t s = 12345;
	struct mix_enc e;
	struct mix_dec d;
	size_t len;

	(void)state;
	for (int i = 0; i < N; i++) {
		uint64_t r = rng_next(&s);
		uint32_t p = (uint32_t)(r % 65535) + 1;

		if (i % 7 == 0) /* the extremes */
			p = (r >> 20) & 1 ? 1 : 65535;
		probs[i] = p;
		/* bits mostly follow the probability, sometimes against it */
		bits[i] = (uint8_t)(((r >> 32) % 65536) < p);
	}
	mix_enc_init(&e, buf, N);
	for (int i = 0; i < N; i++)
		mix_enc_bit(&e, bits[i], probs[i]);
	assert_int_equal(mix_enc_finish(&e, &len), 0);
	mix_dec_init(&d, buf, len);
	for (int i = 0; i < N; i++)
		assert_int_equal(mix_dec_bit(&d, probs[i]), bits[i]);
	assert_int_equal(mix_dec_finish(&d), 0);
	/* one byte short: the bits come out different, or the length check notices */
	{
		int differ = 0;

		mix_dec_init(&d, buf, len - 1);
		for (int i = 0; i < N; i++)
			differ |= mix_dec_bit(&d, probs[i]) != bits[i];
		assert_true(differ || mix_dec_finish(&d) == -EIO);
	}
	free(buf);
	free(bits);
	free(probs);
}

static void test_arithmetic_coder_reports_full_output(void **state)
{
	uint8_t buf[4];
	struct mix_enc e;
	size_t len;

	(void)state;
	mix_enc_init(&e, buf, sizeof(buf));
	for (int i = 0; i < 1000; i++)
		mix_enc_bit(&e, i & 1, 32768);
	assert_int_equal(mix_enc_finish(&e, &len), -ENOSPC);
}

static void test_every_level_round_trips_awkward_data(void **state)
{
	struct fixture *f = *state;
	enum { N = 20000 };
	uint8_t *random = malloc(N), *zeros = calloc(1, N), *pattern = malloc(N);
	uint64_t s = 99;

	for (int i = 0; i < N; i++) {
		random[i] = (uint8_t)rng_next(&s);
		pattern[i] = (uint8_t)("ROOT\x00\x01\x02\x03"[i % 8] + (i / 800));
	}
	for (int level = BOA_LEVEL_MIN; level <= BOA_LEVEL_MAX; level++) {
		if (!level_runs(f, level))
			continue;
		round_trip(f, level, random, 0);
		round_trip(f, level, random, 1);
		round_trip(f, level, zeros, 1);
		round_trip(f, level, random, 2);
		assert_true(round_trip(f, level, random, N) <= boa_bound(N));
		assert_true(round_trip(f, level, zeros, N) < 64);
		assert_true(round_trip(f, level, pattern, N) < N / 10);
	}
	free(random);
	free(zeros);
	free(pattern);
}

static void test_incompressible_chunk_is_stored(void **state)
{
	struct fixture *f = *state;
	enum { N = 50000 };
	uint8_t *random = malloc(N), *enc = malloc(boa_bound(N));
	uint64_t s = 7, raw_len;
	uint32_t id;
	size_t len;
	int level;

	for (int i = 0; i < N; i++)
		random[i] = (uint8_t)rng_next(&s);
	assert_int_equal(boa_ctx_encode(f->ctx, NULL, 1, random, N, enc, boa_bound(N), &len), 0);
	assert_int_equal(boa_chunk_info(enc, len, &level, &raw_len, &id), 0);
	assert_int_equal(level, 0);
	assert_int_equal(raw_len, N);
	assert_true(len <= boa_bound(N));
	free(random);
	free(enc);
}

static void test_small_output_buffer_is_enospc(void **state)
{
	struct fixture *f = *state;
	uint8_t data[1000], out[100];
	uint64_t s = 3;
	size_t len;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)rng_next(&s);
	assert_int_equal(
	    boa_ctx_encode(f->ctx, NULL, 1, data, sizeof(data), out, sizeof(out), &len), -ENOSPC);
}

static void test_bad_level_and_missing_model_are_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t data[16] = {1}, out[64];
	size_t len;

	assert_int_equal(boa_ctx_encode(f->ctx, NULL, 0, data, 16, out, 64, &len), -EINVAL);
	assert_int_equal(boa_ctx_encode(f->ctx, NULL, 10, data, 16, out, 64, &len), -EINVAL);
	for (int level = 2; level <= BOA_LEVEL_MAX; level++)
		if (boa_level_uses_model(level) == 1)
			assert_int_equal(
			    boa_ctx_encode(f->ctx, NULL, level, data, 16, out, 64, &len), -ENOTSUP);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf;
	long n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static void test_hep_files_round_trip(void **state)
{
	struct fixture *f = *state;
	const char *dir = getenv("HEP_DATA");
	struct dirent *de;
	DIR *d;
	int files = 0;

	if (!dir)
		skip();
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		char path[4096];
		size_t len, enc;
		uint8_t *data;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		data = read_file(path, &len);
		enc = round_trip(f, 1, data, len);
		if (strstr(de->d_name, "uncompressed") || strstr(de->d_name, ".lhe"))
			assert_true(enc < len / 2);
		if (BOA_LEVEL_DEFAULT != 1 && level_runs(f, BOA_LEVEL_DEFAULT))
			round_trip(f, BOA_LEVEL_DEFAULT, data, len);
		free(data);
		files++;
	}
	closedir(d);
	assert_true(files >= 7);
}

/* The mixers' portable and AVX2 kernels give the same integers: mixing and training three
 * mixers (together, one by one, and with a second layer over them) at every stride the levels
 * use and one they do not, on inputs and bits that drive weights to their clamps. */
static void test_mixer_kernels_agree(void **state)
{
	static const int sizes[] = {4, 20, 23, 39, 50};
	uint64_t rng = 7;

	(void)state;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct mix_mixer a[4], b[4]; /* [3]: the second layer */
		int32_t x[MIX_MAX_INPUTS] __attribute__((aligned(32))) = {0};
		int32_t xa[8] __attribute__((aligned(32))) = {0};
		int32_t xb[8] __attribute__((aligned(32))) = {0};
		int n = sizes[s];

		for (int j = 0; j < 4; j++) {
			assert_int_equal(mix_mixer_new(&a[j], j < 3 ? n : 4, 64, 4096, 14), 0);
			assert_int_equal(mix_mixer_new(&b[j], j < 3 ? n : 4, 64, 4096, 14), 0);
			assert_int_equal(mix_mixer_set_kernels(&a[j], "portable"), 0);
			if (mix_mixer_set_kernels(&b[j], "avx2") == -ENOTSUP)
				skip();
		}
		for (int t = 0; t < 30000; t++) {
			int sets[3], fset = (int)(rng_next(&rng) % 64), bit, kind = t % 3;

			for (int i = 0; i < n; i++) /* stretched inputs, often at the extremes */
				x[i] = (int32_t)(rng_next(&rng) % 4095) - 2047;
			for (int j = 0; j < 3; j++)
				sets[j] = (int)(rng_next(&rng) % 64);
			bit = (int)(rng_next(&rng) & 1);
			if (kind == 0) {
				assert_int_equal(
				    mix_mixers3_layers_mix(a, &a[3], x, sets, fset, xa),
				    mix_mixers3_layers_mix(b, &b[3], x, sets, fset, xb));
				assert_memory_equal(xa, xb, sizeof(xa));
				mix_mixers3_layers_update(a, &a[3], x, xa, bit, 64);
				mix_mixers3_layers_update(b, &b[3], x, xb, bit, 64);
				continue;
			}
			if (kind == 1) {
				mix_mixers3_mix(a, x, sets);
				mix_mixers3_mix(b, x, sets);
			} else {
				for (int j = 0; j < 3; j++) {
					mix_mixer_mix(&a[j], x, sets[j]);
					mix_mixer_mix(&b[j], x, sets[j]);
				}
			}
			for (int j = 0; j < 3; j++)
				assert_int_equal(a[j].dot, b[j].dot);
			if (t & 4) {
				mix_mixers3_update(a, x, bit, 64);
				mix_mixers3_update(b, x, bit, 64);
			} else {
				for (int j = 0; j < 3; j++) {
					mix_mixer_update(&a[j], x, bit, 64);
					mix_mixer_update(&b[j], x, bit, 64);
				}
			}
		}
		for (int j = 0; j < 4; j++) {
			assert_memory_equal(a[j].weights, b[j].weights,
			                    sizeof(int32_t) * (size_t)a[j].stride * 64);
			mix_mixer_free(&a[j]);
			mix_mixer_free(&b[j]);
		}
	}
}

/* The 16-bit layers (level 2 of format 5): the portable and AVX2 kernels give the same outputs
 * at every step, with sets that repeat so that weights keep learning, inputs often at the
 * extremes and every learning rate the coder uses. Runs that start with every weight at one
 * clamp or the other push weights past it at once. The AVX2 kernel keeps a set's lanes in
 * another order, so the outputs are what is compared; n below 32 checks that the padding lanes
 * add nothing. */
static void test_layers16_kernels_agree(void **state)
{
	static const struct {
		int n, init;
	} runs[] = {{24, 256}, {32, 256}, {5, 256}, {24, 16383}, {24, -16384}};
	static const int nsets[3] = {16, 8, 4};
	uint64_t rng = 11;

	(void)state;
	for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
		struct mix_layers16 *a = aligned_alloc(32, sizeof(*a));
		struct mix_layers16 *b = aligned_alloc(32, sizeof(*b));
		int32_t x[MIX_MAX_INPUTS] __attribute__((aligned(32))) = {0};
		int n = runs[r].n, init = runs[r].init, clamped = 0;

		assert_non_null(a);
		assert_non_null(b);
		assert_int_equal(mix_layers16_new(a, n, nsets, 8, init, init), 0);
		assert_int_equal(mix_layers16_new(b, n, nsets, 8, init, init), 0);
		assert_int_equal(mix_layers16_set_kernels(a, "portable"), 0);
		if (mix_layers16_set_kernels(b, "avx2") == -ENOTSUP) {
			mix_layers16_free(a);
			mix_layers16_free(b);
			free(a);
			free(b);
			skip();
		}
		for (int t = 0; t < 20000; t++) {
			int sets[3], fset = (int)(rng_next(&rng) % 8), bit, rate = 16 + t % 49;

			for (int i = 0; i < n; i++) /* stretched inputs, often at the extremes */
				x[i] = (int32_t)(rng_next(&rng) % 4095) - 2047;
			for (int j = 0; j < 3; j++)
				sets[j] = (int)(rng_next(&rng) % (uint64_t)nsets[j]);
			bit = (int)(rng_next(&rng) & 1);
			assert_int_equal(mix_layers16_mix(a, x, sets, fset),
			                 mix_layers16_mix(b, x, sets, fset));
			assert_int_equal(a->fpr, b->fpr);
			for (int j = 0; j < 3; j++)
				assert_int_equal(a->pr[j], b->pr[j]);
			assert_memory_equal(a->x2, b->x2, sizeof(a->x2));
			mix_layers16_train(a, bit, rate);
			mix_layers16_train(b, bit, rate);
			assert_memory_equal(a->fweights, b->fweights, sizeof(int32_t) * 4 * 8);
			for (int i = 0; i < MIX16_INPUTS; i++)
				clamped += a->w[0][i] == 16383 || a->w[0][i] == -16384;
		}
		if (init != 256)
			assert_true(clamped > 0); /* the clamps were reached and kept */
		mix_layers16_free(a);
		mix_layers16_free(b);
		free(a);
		free(b);
	}
}

/* The chunks of tests/data/boa-v<version> (MANIFEST: chunk, source file in tests/data/hep,
 * offset, length) decode with today's code to the slices of tests/data/hep they were made from.
 * A chunk that names a model is skipped only when this build has none. */
static void old_chunks_decode(const struct fixture *f, int version)
{
	const char *src = getenv("BOAFS_SRC");
	char path[4096], chunk[256], source[256];
	long offset;
	size_t len, enc_len, src_len;
	int chunks = 0;
	FILE *mf;

	if (!src)
		skip();
	snprintf(path, sizeof(path), "%s/tests/data/boa-v%d/MANIFEST", src, version);
	mf = fopen(path, "r");
	assert_non_null(mf);
	while (fscanf(mf, "%255s %255s %ld %zu", chunk, source, &offset, &len) == 4) {
		uint8_t *enc, *raw, *dec = malloc(len);
		int level;
		uint64_t raw_len;
		uint32_t model_id;

		snprintf(path, sizeof(path), "%s/tests/data/boa-v%d/%s", src, version, chunk);
		enc = read_file(path, &enc_len);
		snprintf(path, sizeof(path), "%s/tests/data/hep/%s", src, source);
		raw = read_file(path, &src_len);
		assert_true((size_t)offset + len <= src_len);
		assert_int_equal(enc[0] >> 4, version); /* written as this version */
		assert_int_equal(boa_chunk_info(enc, enc_len, &level, &raw_len, &model_id), 0);
		assert_int_equal(raw_len, len);
		if (model_id == 0 || f->model) {
			memset(dec, 0, len);
			assert_int_equal(boa_ctx_decode(f->ctx, f->model, enc, enc_len, dec, len),
			                 0);
			assert_memory_equal(dec, raw + offset, len);
			chunks++;
		}
		free(enc);
		free(raw);
		free(dec);
	}
	fclose(mf);
	assert_true(chunks >= 4);
}

/* Made at commit a2a783e, before format version 2: levels 1 and 4 of four 16 KiB slices. */
static void test_version_1_chunks_still_decode(void **state)
{
	old_chunks_decode(*state, 1);
}

/* Made at commit 57a5f25, before format version 3: levels 1-4 and 7 of the same slices. */
static void test_version_2_chunks_still_decode(void **state)
{
	old_chunks_decode(*state, 2);
}

/* Made at commit 71a7674, before format version 4: level 2 (the only level format 3 changed). */
static void test_version_3_chunks_still_decode(void **state)
{
	old_chunks_decode(*state, 3);
}

/* Made at commit c343bcb, before format version 5: level 2 (the only level format 5 changed). */
static void test_version_4_chunks_still_decode(void **state)
{
	old_chunks_decode(*state, 4);
}

static void test_hep_block_round_trips_at_every_level(void **state)
{
	struct fixture *f = *state;
	const char *dir = getenv("HEP_DATA");
	char path[4096];
	size_t len;
	uint8_t *data;

	if (!dir)
		skip();
	snprintf(path, sizeof(path), "%s/uproot-sample-6.20.04-uncompressed.root", dir);
	data = read_file(path, &len);
	if (len > 32768)
		len = 32768; /* one filesystem-sized block */
	for (int level = BOA_LEVEL_MIN; level <= BOA_LEVEL_MAX; level++)
		if (level_runs(f, level))
			assert_true(round_trip(f, level, data, len) < len / 2);
	free(data);
}

/* A chunk of `data` at level 1, damaged by `damage`, must decode to -EIO (never wrong data). */
static void test_damaged_chunks_are_eio(void **state)
{
	struct fixture *f = *state;
	enum { N = 30000 };
	uint8_t *data = malloc(N), *enc = malloc(boa_bound(N)), *dec = malloc(N);
	size_t len;

	for (int i = 0; i < N; i++)
		data[i] = (uint8_t)("event 42 px=+1.234e+01\n"[i % 23] ^ (i / 1000));
	assert_int_equal(boa_ctx_encode(f->ctx, NULL, 1, data, N, enc, boa_bound(N), &len), 0);
	assert_true(len < N / 4);
	/* truncated at every length */
	for (size_t cut = 0; cut < len; cut += 1 + cut / 3)
		assert_int_equal(boa_ctx_decode(f->ctx, NULL, enc, cut, dec, N), -EIO);
	/* one extra byte */
	enc[len] = 0;
	assert_int_equal(boa_ctx_decode(f->ctx, NULL, enc, len + 1, dec, N), -EIO);
	/* wrong raw length */
	assert_int_equal(boa_ctx_decode(f->ctx, NULL, enc, len, dec, N - 1), -EIO);
	/* every byte with a bit flipped */
	for (size_t i = 0; i < len; i += 1 + i / 8) {
		enc[i] ^= (uint8_t)(1u << (i % 8));
		assert_int_not_equal(boa_ctx_decode(f->ctx, NULL, enc, len, dec, N), 0);
		enc[i] ^= (uint8_t)(1u << (i % 8));
	}
	assert_int_equal(boa_ctx_decode(f->ctx, NULL, enc, len, dec, N), 0);
	assert_memory_equal(dec, data, N);
	free(data);
	free(enc);
	free(dec);
}

static void test_encoding_is_deterministic_across_contexts(void **state)
{
	struct fixture *f = *state;
	enum { N = 40000 };
	uint8_t *data = malloc(N), *a = malloc(boa_bound(N)), *b = malloc(boa_bound(N));
	uint64_t s = 5;
	size_t la, lb;

	for (int i = 0; i < N; i++)
		data[i] = (uint8_t)(i % 8 < 2 ? (uint64_t)(0x40 + i % 3) : rng_next(&s) % 16);
	/* a reused context (after other levels) and a fresh one give the same bytes */
	round_trip(f, 1, data, 1000);
	assert_int_equal(boa_ctx_encode(f->ctx, NULL, 1, data, N, a, boa_bound(N), &la), 0);
	assert_int_equal(boa_encode(NULL, 1, data, N, b, boa_bound(N), &lb), 0);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	free(data);
	free(a);
	free(b);
}

struct canceller {
	int flag;
};

static void *cancel_soon(void *arg)
{
	struct canceller *c = arg;
	struct timespec ms = {0, 1000000};

	nanosleep(&ms, NULL);
	__atomic_store_n(&c->flag, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* A set cancel flag stops encode and decode with -ECANCELED, before or during the call, and the
 * context then codes the next chunk exactly as a fresh one does. */
static void test_cancel_flag_stops_coding_and_leaves_context_usable(void **state)
{
	struct fixture *f = *state;
	enum { N = 200000 };
	uint8_t *data = malloc(N), *a = malloc(boa_bound(N)), *b = malloc(boa_bound(N));
	uint8_t *dec = malloc(N);
	struct canceller c = {1};
	pthread_t th;
	uint64_t s = 9;
	size_t la, lb;
	int rc;

	for (int i = 0; i < N; i++)
		data[i] = (uint8_t)(i % 8 < 3 ? (uint64_t)(0x30 + i % 5) : rng_next(&s) % 32);
	assert_int_equal(boa_encode(NULL, 1, data, N, b, boa_bound(N), &lb), 0);
	boa_ctx_set_cancel(f->ctx, &c.flag);
	assert_int_equal(boa_ctx_encode(f->ctx, NULL, 1, data, N, a, boa_bound(N), &la),
	                 -ECANCELED);
	assert_int_equal(boa_ctx_decode(f->ctx, NULL, b, lb, dec, N), -ECANCELED);
	/* Cancelled while running (or, on a fast machine, finished first: both are correct). */
	c.flag = 0;
	assert_int_equal(pthread_create(&th, NULL, cancel_soon, &c), 0);
	rc = boa_ctx_encode(f->ctx, NULL, 1, data, N, a, boa_bound(N), &la);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(rc == 0 || rc == -ECANCELED);
	boa_ctx_set_cancel(f->ctx, NULL);
	assert_int_equal(boa_ctx_encode(f->ctx, NULL, 1, data, N, a, boa_bound(N), &la), 0);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	assert_int_equal(boa_ctx_decode(f->ctx, NULL, a, la, dec, N), 0);
	assert_memory_equal(dec, data, N);
	free(data);
	free(a);
	free(b);
	free(dec);
}

/* Chunks for the reset-ahead tests: `len` bytes at `level`, records with noise (seed `seed`). */
static uint8_t *chunk_of(int level, size_t len, uint64_t seed, uint8_t **data, size_t *out_len)
{
	uint8_t *enc = malloc(boa_bound(len));

	*data = malloc(len);
	assert_non_null(enc);
	assert_non_null(*data);
	for (size_t i = 0; i < len; i++)
		(*data)[i] = (uint8_t)(i % 6 < 2 ? (uint64_t)(0x41 + i % 7) : rng_next(&seed) % 24);
	assert_int_equal(boa_encode(NULL, level, *data, len, enc, boa_bound(len), out_len), 0);
	return enc;
}

/* A context reset ahead (boa_ctx_prepare) decodes as a fresh one would: for the level and length
 * it was readied for, after a decode of another, after an encode, and for any other chunk. */
static void test_context_reset_ahead_decodes_the_same(void **state)
{
	struct boa_ctx *ctx; /* a fresh one: the fixture's has coded before */
	enum { N = 65536, M = 40000, K = 4 };
	static const int levels[K] = {2, 2, 2, 1};
	static const size_t lens[K] = {N, N, M, N};
	uint8_t *data[K], *enc[K], *dec = malloc(N), *scratch = malloc(boa_bound(N));
	size_t elen[K], slen;

	assert_int_equal(boa_ctx_new(&ctx), 0);
	for (int i = 0; i < K; i++)
		enc[i] = chunk_of(levels[i], lens[i], 10 + i, &data[i], &elen[i]);
	assert_int_equal(boa_ctx_prepare(ctx, 0, 0), -ENOTSUP); /* nothing decoded yet */
	assert_int_equal(boa_ctx_prepare(ctx, BOA_LEVEL_MAX + 1, N), -EINVAL);
	assert_int_equal(boa_ctx_prepare(ctx, 2, N), 0);
	for (int i = 0; i < K;
	     i++) { /* each readied for the last chunk: equal, shorter, other level */
		memset(dec, 0xa5, N);
		assert_int_equal(boa_ctx_decode(ctx, NULL, enc[i], elen[i], dec, lens[i]), 0);
		assert_memory_equal(dec, data[i], lens[i]);
		assert_int_equal(boa_ctx_prepare(ctx, 0, 0), 0);
	}
	/* not readied after a decode of the same level and length: the next one resets */
	assert_int_equal(boa_ctx_decode(ctx, NULL, enc[0], elen[0], dec, N), 0);
	assert_int_equal(boa_ctx_decode(ctx, NULL, enc[1], elen[1], dec, N), 0);
	assert_memory_equal(dec, data[1], N);
	/* readied, then used to encode: the decode after resets again */
	assert_int_equal(boa_ctx_prepare(ctx, 2, N), 0);
	assert_int_equal(boa_ctx_encode(ctx, NULL, 2, data[1], N, scratch, boa_bound(N), &slen), 0);
	assert_int_equal(boa_ctx_decode(ctx, NULL, enc[0], elen[0], dec, N), 0);
	assert_memory_equal(dec, data[0], N);
	/* readied twice, and readied after a decode that failed */
	assert_int_equal(boa_ctx_prepare(ctx, 0, 0), 0);
	assert_int_equal(boa_ctx_prepare(ctx, 0, 0), 0);
	assert_int_equal(boa_ctx_decode(ctx, NULL, enc[1], elen[1] / 2, dec, N), -EIO);
	assert_int_equal(boa_ctx_prepare(ctx, 0, 0), 0);
	assert_int_equal(boa_ctx_decode(ctx, NULL, enc[1], elen[1], dec, N), 0);
	assert_memory_equal(dec, data[1], N);
	/* the shared contexts of the codec registry, readied between decodes and at the start */
	{
		struct codec *c;

		assert_int_equal(codec_new(3, 2, &c), 0);
		assert_int_equal(codec_boa_warm(c, 2, N, 2), 0);
		for (int round = 0; round < 2; round++)
			for (int i = 0; i < K; i++) {
				memset(dec, 0xa5, N);
				assert_int_equal(
				    codec_decode(c, CODEC_BOA, NULL, enc[i], elen[i], dec, lens[i]),
				    0);
				assert_memory_equal(dec, data[i], lens[i]);
				codec_boa_idle(c);
			}
		codec_free(c);
	}
	for (int i = 0; i < K; i++) {
		free(data[i]);
		free(enc[i]);
	}
	free(dec);
	free(scratch);
	boa_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_arithmetic_coder_round_trips_any_probabilities),
	    cmocka_unit_test(test_arithmetic_coder_reports_full_output),
	    cmocka_unit_test(test_every_level_round_trips_awkward_data),
	    cmocka_unit_test(test_incompressible_chunk_is_stored),
	    cmocka_unit_test(test_small_output_buffer_is_enospc),
	    cmocka_unit_test(test_bad_level_and_missing_model_are_refused),
	    cmocka_unit_test(test_hep_files_round_trip),
	    cmocka_unit_test(test_hep_block_round_trips_at_every_level),
	    cmocka_unit_test(test_mixer_kernels_agree),
	    cmocka_unit_test(test_layers16_kernels_agree),
	    cmocka_unit_test(test_version_1_chunks_still_decode),
	    cmocka_unit_test(test_version_2_chunks_still_decode),
	    cmocka_unit_test(test_version_3_chunks_still_decode),
	    cmocka_unit_test(test_version_4_chunks_still_decode),
	    cmocka_unit_test(test_damaged_chunks_are_eio),
	    cmocka_unit_test(test_encoding_is_deterministic_across_contexts),
	    cmocka_unit_test(test_cancel_flag_stops_coding_and_leaves_context_usable),
	    cmocka_unit_test(test_context_reset_ahead_decodes_the_same),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
