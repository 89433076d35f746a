#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mix_cm.h"
#include "mix_mem.h"
#include "mix_tables.h"

#define CM_INIT 0x80000000u /* p = 1/2, count 0 */
/* The state-map counter of state 0 (a context not seen before), whose input is 0: p = 1/2
 * (stretch 0) with a count that no learning counter reaches, whose step is 0, so it stays. */
#define SM_UNSEEN     (0x80000000u | 1023)
#define CM_SLOT       16   /* bytes per slot: check + 15 nibble-node bit histories */
#define CM_LINE       64   /* bytes per line: the 4 slots a context hash may use */
#define REC_MAX       1024 /* longest detectable stride */
#define MATCH_VERIFY  400  /* longest backward check when a match starts */
#define HASH_BITS_MIN 12
#define RM_RECORDS    8 /* earlier records the record match looks at */

/* Salts that keep the kinds of hashed context apart. */
enum {
	SALT_ORDER = 0x100,
	SALT_SPARSE = 0x200,
	SALT_RECORD = 0x300,
	SALT_TEXT = 0x400,
	SALT_INDIRECT = 0x500,
};

static inline uint32_t cm_hash(uint32_t a, uint32_t b)
{
	uint32_t h = a * 0x9e3779b1u ^ (b + 0x7f4a7c15u) * 0x85ebca77u;

	h ^= h >> 15;
	h *= 0xc2b2ae3du;
	h ^= h >> 13;
	return h;
}

static inline uint32_t cm_hash3(uint32_t a, uint32_t b, uint32_t c)
{
	return cm_hash(cm_hash(a, b), c);
}

/* The lines of the hashed table that contexts hash to: for k < n, idx[k] = (h >> 6) & mask and
 * check[k] = (h * 0x2545f491) >> 24, where h = cm_hash(ctx[k], nib) (the hash of a context for
 * a nibble). The AVX2 kernel does 8 at a time (n rounded up to 8: ctx, idx and check have room);
 * both give the same integers (tests/codec/test_mix_cm.c). */
static void lines_portable(const uint32_t *ctx, uint32_t nib, uint32_t mask, uint32_t *idx,
                           uint32_t *check, int n)
{
	for (int k = 0; k < n; k++) {
		uint32_t h = cm_hash(ctx[k], nib);

		idx[k] = h >> 6 & mask;
		check[k] = h * 0x2545f491u >> 24;
	}
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CM_HAVE_AVX2 1
typedef uint32_t cm_v8 __attribute__((vector_size(32)));

__attribute__((target("avx2"))) static void
lines_avx2(const uint32_t *ctx, uint32_t nib, uint32_t mask, uint32_t *idx, uint32_t *check, int n)
{
	const uint32_t b = (nib + 0x7f4a7c15u) * 0x85ebca77u; /* cm_hash's second operand */

	for (int i = 0; i < n; i += 8) {
		cm_v8 h, t;

		memcpy(&h, ctx + i, sizeof(h));
		h = h * 0x9e3779b1u ^ b;
		h ^= h >> 15;
		h *= 0xc2b2ae3du;
		h ^= h >> 13;
		t = h >> 6 & mask;
		memcpy(idx + i, &t, sizeof(t));
		t = h * 0x2545f491u >> 24;
		memcpy(check + i, &t, sizeof(t));
	}
}
#endif

static inline uint32_t counter_p12(uint32_t c)
{
	return c >> 20;
}

/* Moves the counter at `c` towards `target` (0 or 2^22 - 1) by step[n] (its rate and count
 * increment). Written as one add to the packed word: (p + d) << 10 | n' equals
 * v + (d << 10) + (n' - n) modulo 2^32, as n' <= 1023. */
static inline void counter_update(uint32_t *c, int64_t target, const struct mix_cm_step *step)
{
	uint32_t v = *c;
	const struct mix_cm_step *s = &step[v & 1023];
	int64_t d = ((target - (int64_t)(v >> 10)) * s->rate) >> 16;

	*c = v + ((uint32_t)d << 10) + s->inc;
}

/* Fills step[0..n) for counters whose count stops at `limit`. */
static void steps_fill(struct mix_cm_step *step, int n, int limit)
{
	for (int i = 0; i < n; i++) {
		step[i].rate = mix_rate_tab[i];
		step[i].inc = i < limit;
	}
}

/* The context sets that the per-bit and per-byte code is compiled for (with det_inputs, the
 * record match and matches of 4 bytes or more: the format-2 levels), so that the compiler
 * unrolls the loops over contexts and drops the tests of absent ones; any other set takes the
 * generic code, which gives the same results. */
#define SET_7  (MIX_CTX_O2 | MIX_CTX_O6 | MIX_CTX_REC2 | MIX_CTX_LONG1 | MIX_CTX_TEXTS)
#define SET_8  (SET_7 | MIX_CTX_REC3)
#define SET_9  (SET_7 | MIX_CTX_O1 | MIX_CTX_REC3)
#define SET_11 (SET_9 | MIX_CTX_SPARSE2 | MIX_CTX_LONG2)
#define SET_17 MIX_CTX_COUNTS(0x5e, 2, 2, 3, 3)
enum {
	SHAPE_ANY,
	SHAPE_7,  /* format 2 levels 1, 2, 5 */
	SHAPE_8,  /* format 3 level 2 */
	SHAPE_9,  /* level 3 */
	SHAPE_11, /* level 6 */
	SHAPE_17, /* levels 4, 7-9; format 1 levels 1-2 */
};

/* The shape of a context set (a SHAPE_* value). */
static int shape_of(const struct mix_cm_params *p)
{
	if (!p->det_inputs || !p->record || p->match_min != 4)
		return SHAPE_ANY;
	switch (p->contexts) {
	case SET_7:
		return SHAPE_7;
	case SET_8:
		return SHAPE_8;
	case SET_9:
		return SHAPE_9;
	case SET_11:
		return SHAPE_11;
	case SET_17:
		return SHAPE_17;
	default:
		return SHAPE_ANY;
	}
}

static void shape_set(struct mix_cm *cm, int shape);

int mix_cm_set_kernels(struct mix_cm *cm, const char *name)
{
	if (!strcmp(name, "generic")) {
		shape_set(cm, SHAPE_ANY);
		return 0;
	}
	if (!strcmp(name, "portable")) {
		cm->lines_fn = lines_portable;
		cm->avx2 = 0;
		shape_set(cm, cm->shape);
		return 0;
	}
#ifdef CM_HAVE_AVX2
	if (!strcmp(name, "avx2") && __builtin_cpu_supports("avx2")) {
		cm->lines_fn = lines_avx2;
		cm->avx2 = 1;
		shape_set(cm, cm->shape);
		return 0;
	}
#endif
	return -ENOTSUP;
}

int mix_cm_new(const struct mix_cm_params *p, struct mix_cm **out)
{
	struct mix_cm *cm;
	int n = 0, norders;

	if (p->hash_bits_max < HASH_BITS_MIN || p->hash_bits_max > 26 || p->limit < 1 ||
	    p->limit > 1023 || (p->contexts & ~MIX_CTX_ALL) ||
	    (p->match_min &&
	     (p->match_min < 2 || p->match_min > 8 || p->match_bits < 10 || p->match_bits > 26)))
		return -EINVAL;
	norders = __builtin_popcount(p->contexts & MIX_CTX_ORDERS);
	n = __builtin_popcount(p->contexts);
	if (n > MIX_CM_MAX_HASHED)
		return -EINVAL;
	cm = calloc(1, sizeof(*cm));
	if (!cm)
		return -ENOMEM;
	cm->p = *p;
	cm->nhashed = n;
	for (int i = 0; i < 256; i++) {
		int n0 = mix_state_count[i][0], n1 = mix_state_count[i][1];

		cm->deterministic[i] = (int16_t)(n0 && n1 ? 0
		                                 : n1     ? 128 + 32 * (n1 > 24 ? 24 : n1)
		                                          : -128 - 32 * (n0 > 24 ? 24 : n0));
		cm->used[i] = (uint8_t)(n0 + n1);
	}
	cm->deterministic[0] = 0;
	cm->lines_fn = lines_portable;
#ifdef CM_HAVE_AVX2
	if (__builtin_cpu_supports("avx2")) {
		cm->lines_fn = lines_avx2;
		cm->avx2 = 1;
	}
#endif
	shape_set(cm, shape_of(p));
	steps_fill(cm->step_sm, 1024, 127);
	cm->step_sm[1023].rate = 0; /* SM_UNSEEN */
	cm->step_sm[1023].inc = 0;
	steps_fill(cm->step_255, 256, 255);
	steps_fill(cm->step_o0, 1024, 1023);
	steps_fill(cm->step_o1, 1024, p->limit);
	cm->norders = norders;
	cm->ninputs =
	    2 + (p->det_inputs ? 2 : 1) * n + (p->match_min ? 2 : 0) + (p->record ? 1 : 0);
	cm->table_cap = (size_t)1 << p->hash_bits_max;
	cm->table = mix_table_alloc(cm->table_cap * CM_LINE);
	cm->o0 = malloc(256 * sizeof(uint32_t));
	cm->ind2 = malloc(65536 * sizeof(uint16_t));
	cm->sm = malloc((size_t)n * 256 * sizeof(uint32_t));
	cm->o1 = malloc(65536 * sizeof(uint32_t));
	if (p->match_min)
		cm->match_tab = mix_table_alloc(sizeof(uint32_t) << p->match_bits);
	if (!cm->table || !cm->o0 || !cm->sm || !cm->ind2 || !cm->o1 ||
	    (p->match_min && !cm->match_tab)) {
		mix_cm_free(cm);
		return -ENOMEM;
	}
	*out = cm;
	return 0;
}

void mix_cm_free(struct mix_cm *cm)
{
	if (!cm)
		return;
	free(cm->table);
	free(cm->o0);
	free(cm->sm);
	free(cm->ind2);
	free(cm->o1);
	free(cm->match_tab);
	free(cm);
}

/* slot_find's miss: the slot of `line` holding the least history (the first of equals),
 * cleared for `check`. A hashed context misses its line about a third of the time, at random:
 * the slot is chosen without branches (they were mispredicted about every other miss). */
static inline uint8_t *slot_miss(struct mix_cm *cm, uint8_t *line, uint8_t check)
{
	uint32_t u0, u1, u2, u3, s01, s23, s, m01, m23, least;
	uint8_t *victim;

	/* selections as masks: GCC turns conditional expressions back into branches */
	u0 = cm->used[line[1]];
	u1 = cm->used[line[17]];
	u2 = cm->used[line[33]];
	u3 = cm->used[line[49]];
	s01 = 0u - (u1 < u0);
	s23 = 0u - (u3 < u2);
	m01 = (u1 & s01) | (u0 & ~s01);
	m23 = (u3 & s23) | (u2 & ~s23);
	s = 0u - (m23 < m01);
	least = ((2 + (s23 & 1)) & s) | (s01 & 1 & ~s);
	victim = line + CM_SLOT * least;
	memset(victim, 0, CM_SLOT);
	victim[0] = check;
	return victim;
}

/* The slot for the current nibble in `line`: the first slot whose check matches, else
 * slot_miss. The checks are compared at once, as the bytes of one word (GCC made branches of
 * four comparisons). */
static inline uint8_t *slot_find(struct mix_cm *cm, uint8_t *line, uint8_t check)
{
	uint32_t w = (uint32_t)line[0] | (uint32_t)line[16] << 8 | (uint32_t)line[32] << 16 |
	             (uint32_t)line[48] << 24;
	uint32_t y = w ^ check * 0x01010101u;
	/* the high bit of each byte of y that is 0 (exact: no carries between bytes) */
	uint32_t hit = ~(((y & 0x7f7f7f7fu) + 0x7f7f7f7fu) | y) & 0x80808080u;

	if (hit)
		return line + CM_SLOT * ((uint32_t)__builtin_ctz(hit) >> 3);
	return slot_miss(cm, line, check);
}

/* Each hashed context's line and check for the byte's first nibble (d = 0), or for its second
 * with the byte's 4th bit d; the lines are prefetched. */
static inline __attribute__((always_inline)) void
lines_find(struct mix_cm *cm, const int nh, uint32_t nib, uint32_t d, const int avx2)
{
#ifdef CM_HAVE_AVX2
	if (avx2) /* the AVX2 copy of the code: the kernel inlined */
		lines_avx2(cm->ctx_hash, nib, (uint32_t)cm->mask, cm->ahead_line[d],
		           cm->ahead_check[d], nh);
	else
#endif
		cm->lines_fn(cm->ctx_hash, nib, (uint32_t)cm->mask, cm->ahead_line[d],
		             cm->ahead_check[d], nh);
#pragma GCC unroll 24
	for (int k = 0; k < nh; k++)
		__builtin_prefetch(cm->table + (size_t)cm->ahead_line[d][k] * CM_LINE);
}

/* The lines for the byte's first nibble, found (and prefetched) as soon as the byte's contexts
 * are known. */
static inline __attribute__((always_inline)) void lines_first(struct mix_cm *cm, const int nh)
{
	lines_find(cm, nh, 1, 0, 0);
}

/* Before the byte's 4th bit: the lines of the second nibble for both values of that bit, so that
 * they arrive while the bit is coded. */
static inline __attribute__((always_inline)) void buckets_ahead(struct mix_cm *cm, const int nh,
                                                                const int avx2)
{
	lines_find(cm, nh, cm->c0 << 1, 0, avx2);
	lines_find(cm, nh, cm->c0 << 1 | 1, 1, avx2);
}

/* Each hashed context's slot for the nibble that starts, from the lines found ahead (d: the
 * byte's 4th bit at its middle, 0 at its start). */
static inline __attribute__((always_inline)) void buckets_take(struct mix_cm *cm, const int nh,
                                                               uint32_t d)
{
#pragma GCC unroll 24
	for (int k = 0; k < nh; k++)
		cm->bucket[k] = slot_find(cm, cm->table + (size_t)cm->ahead_line[d][k] * CM_LINE,
		                          (uint8_t)cm->ahead_check[d][k]);
}

#ifdef CM_HAVE_AVX2
/* slot_find comparing the line's 64 bytes with the check at once (two 32-byte compares; the
 * checks are bytes 0, 16, 32 and 48): 15 instructions where the bytes gathered into a word
 * took 30. */
__attribute__((target("avx2"))) static inline uint8_t *slot_find_avx2(struct mix_cm *cm,
                                                                      uint8_t *line, uint8_t check)
{
	const __m256i c = _mm256_set1_epi8((char)check);
	uint64_t lo = (uint32_t)_mm256_movemask_epi8(
	    _mm256_cmpeq_epi8(_mm256_load_si256((const __m256i *)(void *)line), c));
	uint64_t hi = (uint32_t)_mm256_movemask_epi8(
	    _mm256_cmpeq_epi8(_mm256_load_si256((const __m256i *)(void *)(line + 32)), c));
	uint64_t hit = (lo | hi << 32) & 0x0001000100010001u;

	if (hit)
		return line + CM_SLOT * ((uint32_t)__builtin_ctzll(hit) >> 4);
	return slot_miss(cm, line, check);
}
#endif

/* buckets_take, with slot_find_avx2 in the AVX2 copy of the code */
static inline __attribute__((always_inline)) void buckets_take_as(struct mix_cm *cm, const int nh,
                                                                  uint32_t d, const int avx2)
{
#ifdef CM_HAVE_AVX2
	if (avx2) {
#pragma GCC unroll 24
		for (int k = 0; k < nh; k++)
			cm->bucket[k] =
			    slot_find_avx2(cm, cm->table + (size_t)cm->ahead_line[d][k] * CM_LINE,
			                   (uint8_t)cm->ahead_check[d][k]);
		return;
	}
#endif
	buckets_take(cm, nh, d);
}

/* Lines for a chunk: one per hashed context per 8 bytes (room for half of the two slots a
 * context may take per byte: most contexts recur), so that contexts seen once are still there
 * much later; measured, twice or four times as many lines gain under 0.01 %. A chunk smaller than
 * the largest table uses (and clears) a prefix: 32 MB for a 128 KiB block at level 4. */
static size_t table_lines(const struct mix_cm *cm, size_t len)
{
	size_t want = (size_t)1 << HASH_BITS_MIN;

	while (want < len * (size_t)cm->nhashed / 8 && want < cm->table_cap)
		want <<= 1;
	return want;
}

void mix_cm_reset(struct mix_cm *cm, const uint8_t *buf, size_t len)
{
	size_t lines = table_lines(cm, len);

	cm->buf = buf;
	cm->pos = 0;
	cm->c0 = 1;
	cm->bitpos = 0;
	cm->c4 = cm->c8 = 0;
	cm->mask = lines - 1;
	memset(cm->table, 0, lines * CM_LINE);
	for (int i = 0; i < 256; i++)
		cm->o0[i] = CM_INIT;
	for (int i = 0; i < 65536; i++)
		cm->o1[i] = CM_INIT;
	if (cm->p.match_min) {
		/* about one entry per byte of the chunk: fewer bits for small chunks */
		cm->match_bits = cm->p.match_bits;
		while (cm->match_bits > 10 && ((size_t)1 << (cm->match_bits - 1)) >= len)
			cm->match_bits--;
		memset(cm->match_tab, 0, sizeof(uint32_t) << cm->match_bits);
	}
	/* a state's first guess: (n1 + 1/2) / (n0 + n1 + 1) */
	for (int i = 0; i < 256; i++) {
		uint32_t n0 = mix_state_count[i][0], n1 = mix_state_count[i][1];
		uint32_t p22 = (uint32_t)(((2 * (uint64_t)n1 + 1) << 22) / (2 * (n0 + n1) + 2));

		for (int k = 0; k < cm->nhashed; k++)
			cm->sm[k * 256 + i] = (p22 > (1u << 22) - 1 ? (1u << 22) - 1 : p22) << 10;
	}
	for (int k = 0; k < cm->nhashed; k++)
		cm->sm[k * 256] = SM_UNSEEN;
	cm->match_ptr = cm->match_len = 0;
	cm->match_byte = -1;
	cm->match_bit = 0;
	for (int i = 0; i < 64; i++)
		cm->match_sm[i] = CM_INIT;
	cm->match_slot = NULL;
	memset(cm->rec_last, 0, sizeof(cm->rec_last));
	memset(cm->rec_dist, 0, sizeof(cm->rec_dist));
	memset(cm->rec_score, 0, sizeof(cm->rec_score));
	cm->stride = 0;
	memset(cm->ind1, 0, sizeof(cm->ind1));
	memset(cm->ind2, 0, 65536 * sizeof(uint16_t));
	cm->rec_long = 0;
	cm->rec_run = cm->rec_prefix = cm->rec_phase = cm->rec_col = 0;
	memset(cm->rec_eq, 0, sizeof(cm->rec_eq));
	for (int i = 0; i < RM_RECORDS * 32; i++)
		cm->rec_sm[i] = CM_INIT;
	cm->rec_alive = 0;
	cm->rec_agree = cm->rec_ones = 0;
	cm->rec_bits = 0;
	cm->match_lb_byte = cm->match_conf = 0;
	cm->rec_slot = NULL;
	cm->line_start = cm->prev_line_start = 0;
	cm->field = cm->word_hash = 0;
	memset(cm->ctx_hash, 0, sizeof(cm->ctx_hash));
	lines_first(cm, cm->nhashed);
	cm->hits = 0;
}

static inline uint8_t hist(const struct mix_cm *cm, uint32_t back)
{
	return back >= 1 && back <= cm->pos ? cm->buf[cm->pos - back] : 0;
}

/* Stride: the distance at which byte values most often repeat twice in a row. Phase: the column
 * (position modulo the stride) whose byte most often equals the one a stride back, taken as the
 * first byte of a record (the sign/exponent byte of a float, the high byte of an integer). */
static void record_update(struct mix_cm *cm, uint8_t c)
{
	uint32_t at = cm->pos - 1, last = cm->rec_last[c], st, col;

	if (last) {
		uint32_t d = at - (last - 1);

		if (d >= 2 && d < REC_MAX && d == cm->rec_dist[c]) {
			if (cm->rec_score[d] < 60000)
				cm->rec_score[d] += 1;
			if (d > 16 && d != cm->rec_long &&
			    cm->rec_score[d] > cm->rec_score[cm->rec_long] + 16)
				cm->rec_long = d;
			if (d != cm->stride && cm->rec_score[d] > cm->rec_score[cm->stride] + 16) {
				cm->stride = d;
				memset(cm->rec_eq, 0, sizeof(cm->rec_eq));
				cm->rec_phase = 0;
				cm->rec_alive = 0;
			}
		}
		cm->rec_dist[c] = (uint16_t)(d < REC_MAX ? d : 0);
	}
	cm->rec_last[c] = at + 1;
	if ((cm->pos & 4095) == 0)
		for (int i = 0; i < REC_MAX; i++)
			cm->rec_score[i] >>= 1;

	st = cm->stride ? cm->stride : 4; /* 4: the common float width */
	col = at % st;                    /* pos % st and rec_col follow without dividing */
	if (cm->pos > st && cm->buf[at - st] == c) {
		cm->rec_run++;
		cm->rec_eq[col] += (uint16_t)((65535 - cm->rec_eq[col]) >> 4);
	} else {
		cm->rec_run = 0;
		cm->rec_eq[col] -= (uint16_t)(cm->rec_eq[col] >> 4);
	}
	col = col + 1 == st ? 0 : col + 1; /* pos % st */
	if (col == 0) {                    /* once a record: the best phase */
		uint32_t best = 0;

		for (uint32_t i = 1; i < st; i++)
			if (cm->rec_eq[i] > cm->rec_eq[best] + 2048)
				best = i;
		if (cm->rec_eq[best] > cm->rec_eq[cm->rec_phase] + 2048)
			cm->rec_phase = best;
	}
	cm->rec_col = col + st - cm->rec_phase; /* (pos + st - rec_phase) % st */
	if (cm->rec_col >= st)
		cm->rec_col -= st;
	cm->rec_prefix = cm->rec_col ? cm_hash(cm->rec_prefix, c) : 0;
	if (cm->rec_col == 0) {
		cm->rec_alive = 0;
		for (uint32_t k = 0; k < RM_RECORDS && (k + 1) * st <= cm->pos; k++)
			cm->rec_alive |= 1u << k;
	} else {
		for (uint32_t m = cm->rec_alive; m; m &= m - 1) {
			uint32_t k = (uint32_t)__builtin_ctz(m);

			if ((k + 1) * st > at || cm->buf[at - (k + 1) * st] != c)
				cm->rec_alive &= ~(1u << k);
		}
	}
}

static inline int match_bucket(uint32_t len)
{

	if (len < 16)
		return (int)len;
	if (len < 32)
		return 16 + (int)(len - 16) / 4;
	if (len < 64)
		return 20 + (int)(len - 32) / 8;
	if (len < 128)
		return 24 + (int)(len - 64) / 16;
	if (len < 256)
		return 28 + (int)(len - 128) / 64;
	return len < 512 ? 30 : 31;
}

/* Before a byte's last bit: the match table's entries that match_update will read for either
 * value of the byte, prefetched (the hash of the last min bytes, as match_update computes it,
 * with the byte to come first). */
static inline __attribute__((always_inline)) void match_ahead(struct mix_cm *cm, const int min)
{
	uint32_t h0 = (cm->c0 << 1 & 255) + 1, h1 = h0 + 1;

	if (cm->pos + 1 < (uint32_t)min)
		return;
	h0 *= 0x2f0b3c4du;
	h1 *= 0x2f0b3c4du;
	for (int i = 1; i < min; i++) {
		h0 = (h0 + cm->buf[cm->pos - i] + 1) * 0x2f0b3c4du;
		h1 = (h1 + cm->buf[cm->pos - i] + 1) * 0x2f0b3c4du;
	}
	__builtin_prefetch(&cm->match_tab[(h0 ^ (h0 >> 15)) >> (32 - cm->match_bits)]);
	__builtin_prefetch(&cm->match_tab[(h1 ^ (h1 >> 15)) >> (32 - cm->match_bits)]);
}

/* Compiled with min constant for the shapes. */
static inline __attribute__((always_inline)) void match_update(struct mix_cm *cm, const int min)
{
	uint32_t h = 0;

	if (cm->match_len > 0 && cm->match_byte == (int)(cm->c4 & 255)) {
		cm->match_ptr++;
		if (cm->match_len < 65535)
			cm->match_len++;
	} else {
		cm->match_len = 0;
	}
	if (cm->pos < (uint32_t)min)
		goto out;
	for (int i = 1; i <= min; i++)
		h = (h + cm->buf[cm->pos - i] + 1) * 0x2f0b3c4du;
	h = (h ^ (h >> 15)) >> (32 - cm->match_bits);
	if (cm->match_len == 0) {
		uint32_t cand = cm->match_tab[h], len = 0;

		while (cand && len < MATCH_VERIFY && len < cand &&
		       cm->buf[cand - 1 - len] == cm->buf[cm->pos - 1 - len])
			len++;
		if (len >= (uint32_t)min) {
			cm->match_len = len;
			cm->match_ptr = cand;
		}
	}
	cm->match_tab[h] = cm->pos;
out:
	cm->match_byte = cm->match_len ? cm->buf[cm->match_ptr] : -1;
	cm->match_lb_byte = match_bucket(cm->match_len);
	cm->match_conf =
	    cm->match_lb_byte < 16 ? cm->match_lb_byte * 32 : 512 + (cm->match_lb_byte - 16) * 64;
}

int mix_cm_match_bucket(const struct mix_cm *cm)
{
	return match_bucket(cm->match_len);
}

static int is_word_byte(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '+' || c == '-' || c >= 128;
}

/* The record match's candidates for the next byte: those of the last RM_RECORDS records that
 * are alive and in the chunk (what mix_cm_predict would test at every bit). */
static void rec_gather(struct mix_cm *cm)
{
	uint32_t st = cm->stride ? cm->stride : 4;
	uint64_t bits = 0;

	cm->rec_agree = 0;
	for (uint32_t m = cm->rec_alive; m; m &= m - 1) {
		uint32_t k = (uint32_t)__builtin_ctz(m);

		if ((k + 1) * st <= cm->pos) {
			/* the byte in all 8 bytes of a word, byte j keeping bit 7 - j, each byte
			 * then made 0 or 1 and moved to bit k */
			uint64_t b = cm->buf[cm->pos - (k + 1) * st] * 0x0101010101010101u &
			             0x0102040810204080u;

			bits |= ((b + 0x7f7f7f7f7f7f7f7fu) >> 7 & 0x0101010101010101u) << k;
			cm->rec_agree |= 1u << k;
		}
	}
	cm->rec_bits = bits;
}

/* Computes the hashed contexts `on` for the next byte (constant for the shapes). */
static inline __attribute__((always_inline)) void contexts_update(struct mix_cm *cm,
                                                                  const uint32_t on)
{
	uint32_t c4 = cm->c4, c8 = cm->c8;
	int k = 0;

	if (on & MIX_CTX_O1)
		cm->ctx_hash[k++] = cm_hash(SALT_ORDER + 1, c4 & 0xff);
	if (on & MIX_CTX_O2)
		cm->ctx_hash[k++] = cm_hash(SALT_ORDER + 2, c4 & 0xffff);
	if (on & MIX_CTX_O3)
		cm->ctx_hash[k++] = cm_hash(SALT_ORDER + 3, c4 & 0xffffff);
	if (on & MIX_CTX_O4)
		cm->ctx_hash[k++] = cm_hash(SALT_ORDER + 4, c4);
	if (on & MIX_CTX_O5)
		cm->ctx_hash[k++] = cm_hash3(SALT_ORDER + 5, c4, c8 & 0xff);
	if (on & MIX_CTX_O6)
		cm->ctx_hash[k++] = cm_hash3(SALT_ORDER + 6, c4, c8 & 0xffff);
	if (on & MIX_CTX_O7)
		cm->ctx_hash[k++] = cm_hash3(SALT_ORDER + 7, c4, c8 & 0xffffff);
	if (on & MIX_CTX_SPARSE1)
		cm->ctx_hash[k++] = cm_hash(SALT_SPARSE + 1, c4 & 0xffff00);
	if (on & MIX_CTX_SPARSE2)
		cm->ctx_hash[k++] = cm_hash(SALT_SPARSE + 2, c4 & 0xff00ff00);
	if (on & MIX_CTX_SPARSE3)
		cm->ctx_hash[k++] = cm_hash(SALT_SPARSE + 3, (c4 & 0xff) | (c8 & 0xff) << 8);
	if (on & MIX_CTX_RECORDS) {
		uint32_t st = cm->stride ? cm->stride : 4; /* 4: the common float width */
		uint32_t col = cm->rec_col, run = cm->rec_run > 15 ? 15 : cm->rec_run;
		uint32_t up1 = hist(cm, st), up2 = hist(cm, 2 * st);

		uint32_t lg = cm->rec_long; /* the same field of the previous long records */

		if (on & MIX_CTX_REC1)
			cm->ctx_hash[k++] =
			    cm_hash3(SALT_RECORD + 1, st << 16 | col, cm->rec_prefix);
		if (on & MIX_CTX_REC2)
			cm->ctx_hash[k++] =
			    cm_hash3(SALT_RECORD + 2, st << 16 | col, up1 << 8 | run);
		if (on & MIX_CTX_REC3)
			cm->ctx_hash[k++] = cm_hash3(SALT_RECORD + 3, st, up1 << 8 | up2);
		if (on & MIX_CTX_LONG1)
			cm->ctx_hash[k++] = cm_hash3(
			    SALT_RECORD + 6, lg, (uint32_t)hist(cm, lg) << 8 | hist(cm, 2 * lg));
		if (on & MIX_CTX_LONG2)
			cm->ctx_hash[k++] = cm_hash3(SALT_RECORD + 7, lg << 8 | (c4 & 0xff),
			                             (uint32_t)hist(cm, lg) << 8 | up1);
		if (on & MIX_CTX_REC4)
			cm->ctx_hash[k++] = cm_hash3(SALT_RECORD + 4, st, up1 << 8 | (c4 & 0xff));
		if (on & MIX_CTX_REC5)
			cm->ctx_hash[k++] =
			    cm_hash3(SALT_RECORD + 5, st << 16 | col, up1 << 16 | (c4 & 0xffff));
	}
	if (on & MIX_CTX_TEXTS) {
		uint32_t col = cm->pos - cm->line_start;
		uint32_t above_at = cm->prev_line_start + col;
		uint32_t above = above_at < cm->line_start ? cm->buf[above_at] : 0;

		if (col > 255)
			col = 255;
		if (on & MIX_CTX_TEXT1)
			cm->ctx_hash[k++] = cm_hash3(SALT_TEXT + 1, col, above);
		if (on & MIX_CTX_TEXT2)
			cm->ctx_hash[k++] = cm_hash3(SALT_TEXT + 2, cm->field, cm->word_hash);
		if (on & MIX_CTX_TEXT3)
			cm->ctx_hash[k++] = cm_hash3(SALT_TEXT + 3, above << 8 | (c4 & 0xff), col);
	}
	/* indirect: what followed the last times these 1 and 2 bytes were seen */
	if (on & MIX_CTX_IND1)
		cm->ctx_hash[k++] = cm_hash3(SALT_INDIRECT + 1, c4 & 0xff, cm->ind1[c4 & 0xff]);
	if (on & MIX_CTX_IND2)
		cm->ctx_hash[k++] = cm_hash3(SALT_INDIRECT + 2, c4 & 0xffff,
		                             cm->ind2[c4 & 0xffff] | (c4 & 0xff) << 16);
}

static void text_update(struct mix_cm *cm, uint8_t c)
{
	if (c == '\n') {
		cm->prev_line_start = cm->line_start;
		cm->line_start = cm->pos;
		cm->field = 0;
		cm->word_hash = 0;
	} else if (is_word_byte(c)) {
		cm->word_hash = cm_hash(cm->word_hash, c);
	} else if (cm->word_hash) {
		cm->field++;
		cm->word_hash = 0;
	}
}

/* The hashed contexts' inputs at bit-history node `node` (two a context with det, else one);
 * returns how many. Compiled for each shape, so that the counts are constants. */
static inline __attribute__((always_inline)) int hashed_inputs(struct mix_cm *cm, uint32_t node,
                                                               int32_t *x, const int nh,
                                                               const int no, const int det)
{
	uint32_t *sm = cm->sm;
	int hits = 0, order_hits = 0;

	/* unrolled in full for the shapes (GCC leaves loops of 17 rolled) */
#pragma GCC unroll 24
	for (int k = 0; k < nh; k++) {
		uint8_t *h = cm->bucket[k] + node;
		uint32_t st = *h;
		uint32_t c = sm[k * 256 + st];
		int32_t a = mix_stretch((int)counter_p12(c));

		cm->at_hist[k] = h;
		cm->at_v[k] = c;
		hits += st != 0;
		if (k == no - 1)
			order_hits = hits;
		if (det) {
			x[2 * k] = a; /* 0 for state 0 (SM_UNSEEN) */
			x[2 * k + 1] = cm->deterministic[st];
		} else {
			x[k] = a;
		}
	}
	cm->hits = hits;
	cm->order_hits = order_hits;
	return det ? 2 * nh : nh;
}

/* The states the hashed contexts predicted from, read before any of them learns (the bytes
 * are as predict read them until then): the counter to update is that of the state predicted
 * from, even in a slot that two contexts share, whose second update reads the history the
 * first one wrote. */
static inline __attribute__((always_inline)) void hashed_states(const struct mix_cm *cm,
                                                                uint32_t *st, const int nh)
{
#pragma GCC unroll 24
	for (int k = 0; k < nh; k++)
		st[k] = *cm->at_hist[k];
}

/* The hashed contexts learn `bit` (target: its counter target). */
static inline __attribute__((always_inline)) void hashed_update(struct mix_cm *cm, int bit,
                                                                int64_t target, const int nh)
{
	const uint8_t *next = &mix_state_next[0][bit]; /* next[2 * state] */
	uint32_t *sm = cm->sm; /* held: the history bytes' stores could alias cm->sm */
	uint32_t st[MIX_CM_MAX_HASHED] = {0}; /* {0}: for GCC, which sees st[k] of k >= nh read */

	hashed_states(cm, st, nh);
#pragma GCC unroll 24
	for (int k = 0; k < nh; k++) {
		uint8_t *h = cm->at_hist[k];

		*h = next[(size_t)*h * 2];
		counter_update(&sm[k * 256 + st[k]], target, cm->step_sm);
	}
}

#ifdef CM_HAVE_AVX2
/* hashed_update with the counters' arithmetic 8 at a time (a context's counters are its own row
 * of sm, so no two of them are one counter): the same integers as counter_update, whose
 * d = (target - p) * rate >> 16 needs 39 bits, here in 32-bit lanes as dh * rate + (dl * rate
 * >> 16), where target - p = dh * 2^16 + dl with 0 <= dl < 2^16 (dl * rate < 2^32 is exact).
 * The lanes past nh read at_v entries never written or stale: any count is in step_sm. */
__attribute__((target("avx2"))) static inline void hashed_update_avx2(struct mix_cm *cm, int bit,
                                                                      int32_t target, const int nh)
{
	const __m256i t = _mm256_set1_epi32(target), lo16 = _mm256_set1_epi32(0xffff);
	const __m256i count = _mm256_set1_epi32(1023);
	/* a step is {rate, inc}: the 32-bit word rate | inc << 16 (x86 is little-endian) */
	const int *step = (const int *)(const void *)cm->step_sm;
	const uint8_t *next = &mix_state_next[0][bit]; /* next[2 * state] */
	uint32_t *sm = cm->sm; /* held: the history bytes' stores could alias cm->sm */
	uint32_t out[MIX_CM_MAX_HASHED] __attribute__((aligned(32))), st[MIX_CM_MAX_HASHED];

	hashed_states(cm, st, nh);
	for (int g = 0; g < nh; g += 8) {
		__m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(cm->at_v + g));
		__m256i s = _mm256_i32gather_epi32(step, _mm256_and_si256(v, count), 4);
		__m256i rate = _mm256_and_si256(s, lo16);
		__m256i diff = _mm256_sub_epi32(t, _mm256_srli_epi32(v, 10));
		__m256i dh = _mm256_mullo_epi32(_mm256_srai_epi32(diff, 16), rate);
		__m256i dl = _mm256_mullo_epi32(_mm256_and_si256(diff, lo16), rate);
		__m256i d = _mm256_add_epi32(dh, _mm256_srli_epi32(dl, 16));

		v = _mm256_add_epi32(v, _mm256_slli_epi32(d, 10));
		v = _mm256_add_epi32(v, _mm256_srli_epi32(s, 16));
		_mm256_store_si256((__m256i *)(void *)(out + g), v);
	}
#pragma GCC unroll 24
	for (int k = 0; k < nh; k++) {
		uint8_t *h = cm->at_hist[k];

		*h = next[(size_t)*h * 2];
		sm[k * 256 + st[k]] = out[k];
	}
}
#endif

#ifdef CM_HAVE_AVX2
/* counter_update of the order-0 and order-1 counters and those of the match and the record
 * match (where they predicted) in the lanes of one vector, as hashed_update_avx2, each with its
 * limit's step table (offsets from step_sm in the struct), on the values predict read (at4_v;
 * no two are one counter). A lane whose counter did not predict holds a stale value: its step
 * is still read inside the struct, and its result dropped. */
#define CM_STEP_AT(tab)                                                                            \
	((int)((offsetof(struct mix_cm, tab) - offsetof(struct mix_cm, step_sm)) / 4))
__attribute__((target("avx2"))) static inline void counters4_update_avx2(struct mix_cm *cm,
                                                                         int32_t target)
{
	const __m128i t = _mm_set1_epi32(target), lo16 = _mm_set1_epi32(0xffff);
	const __m128i at = _mm_setr_epi32(CM_STEP_AT(step_o0), CM_STEP_AT(step_o1),
	                                  CM_STEP_AT(step_255), CM_STEP_AT(step_255));
	const int *step = (const int *)(const void *)cm->step_sm;
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)cm->at4_v);
	__m128i s =
	    _mm_i32gather_epi32(step, _mm_add_epi32(_mm_and_si128(v, _mm_set1_epi32(1023)), at), 4);
	__m128i rate = _mm_and_si128(s, lo16);
	__m128i diff = _mm_sub_epi32(t, _mm_srli_epi32(v, 10));
	__m128i dh = _mm_mullo_epi32(_mm_srai_epi32(diff, 16), rate);
	__m128i dl = _mm_mullo_epi32(_mm_and_si128(diff, lo16), rate);
	__m128i d = _mm_add_epi32(dh, _mm_srli_epi32(dl, 16));
	uint32_t out[4];

	v = _mm_add_epi32(v, _mm_slli_epi32(d, 10));
	v = _mm_add_epi32(v, _mm_srli_epi32(s, 16));
	_mm_storeu_si128((__m128i *)(void *)out, v);
	*cm->slot[0] = out[0];
	*cm->slot[1] = out[1];
	if (cm->match_slot)
		*cm->match_slot = out[2];
	if (cm->rec_slot)
		*cm->rec_slot = out[3];
}
#endif

/* mix_cm_predict for a context set of nh hashed contexts, no of them orders, with the
 * det_inputs, match_min and record of cm->p (constants for the shapes). */
static inline __attribute__((always_inline)) void predict_as(struct mix_cm *cm, int32_t *x,
                                                             const int nh, const int no,
                                                             const int det, const int min,
                                                             const int rec, const int avx2)
{
	/* the inputs: order 0 and 1, the hashed contexts, the match, the record match; the
	 * hashed contexts' come last, so that the lines of their slots have longer to arrive */
	int n = 2 + (det ? 2 * nh : nh);

	cm->match_lb = 0; /* set below while a match agrees; else match_len is 0 */
	{
		uint32_t *s0 = &cm->o0[cm->c0];
		uint32_t *s1 = &cm->o1[(cm->c4 & 255) << 8 | cm->c0];

		uint32_t v0 = *s0, v1 = *s1;

		cm->slot[0] = s0;
		cm->slot[1] = s1;
		if (avx2) {
			cm->at4_v[0] = v0;
			cm->at4_v[1] = v1;
		}
		x[0] = mix_stretch((int)counter_p12(v0));
		x[1] = mix_stretch((int)counter_p12(v1)); /* 0 until it learns: p = 1/2 */
	}
	if (min) {
		if (cm->match_len) {
			int expect = (cm->match_byte | 256) >> (7 - cm->bitpos);

			if ((uint32_t)(expect >> 1) == cm->c0) {
				int bit = expect & 1, lb = cm->match_lb_byte;

				cm->match_bit = bit;
				cm->match_lb = lb;
				uint32_t v = cm->match_sm[lb * 2 + bit];

				cm->match_slot = &cm->match_sm[lb * 2 + bit];
				if (avx2)
					cm->at4_v[2] = v;
				x[n++] = mix_stretch((int)counter_p12(v));
				x[n++] = bit ? cm->match_conf : -cm->match_conf;
			} else {
				cm->match_len = 0;
				cm->match_slot = NULL;
				x[n++] = 0;
				x[n++] = 0;
			}
		} else {
			cm->match_slot = NULL;
			x[n++] = 0;
			x[n++] = 0;
		}
	}
	if (rec) {
		/* the most recent of the last RM_RECORDS records that agrees with this one so far
		 * (the lowest bit of rec_agree), and whether all that agree predict the same bit */
		uint32_t agree = cm->rec_agree;
		uint32_t ones = (uint32_t)(cm->rec_bits >> (8 * cm->bitpos)) & agree;

		cm->rec_ones = ones;
		cm->rec_slot = NULL;
		x[n] = 0;
		if (agree) {
			uint32_t k = (uint32_t)__builtin_ctz(agree), bit = ones >> k & 1;
			uint32_t col = cm->rec_col > 7 ? 7 : cm->rec_col;
			uint32_t unanimous = ones == 0 || ones == agree;

			uint32_t v;

			cm->rec_slot = &cm->rec_sm[((k * 8 + col) * 2 + unanimous) * 2 + bit];
			v = *cm->rec_slot;
			if (avx2)
				cm->at4_v[3] = v;
			x[n] = mix_stretch((int)counter_p12(v));
		}
		n++;
	}
	if (min && cm->bitpos == 7)
		match_ahead(cm, min);
	if (cm->bitpos == 0)
		buckets_take_as(cm, nh, 0, avx2);
	else if (cm->bitpos == 3)
		buckets_ahead(cm, nh, avx2);
	else if (cm->bitpos == 4)
		buckets_take_as(cm, nh, cm->c0 & 1, avx2);
	{
		/* the node within the current nibble: 1, 2..3, 4..7, 8..15 */
		uint32_t node = cm->c0;

		if (cm->bitpos >= 4) {
			uint32_t j = (uint32_t)cm->bitpos - 4;

			node = (1u << j) | (cm->c0 & ((1u << j) - 1));
		}
		hashed_inputs(cm, node, x + 2, nh, no, det);
	}
}

/* predict_as and update_as compiled for each shape; mix_cm_new picks the pair. */
static void predict_7(struct mix_cm *cm, int32_t *x)
{
	predict_as(cm, x, 7, 2, 1, 4, 1, 0);
}

static void predict_8(struct mix_cm *cm, int32_t *x)
{
	predict_as(cm, x, 8, 2, 1, 4, 1, 0);
}

static void predict_9(struct mix_cm *cm, int32_t *x)
{
	predict_as(cm, x, 9, 3, 1, 4, 1, 0);
}

static void predict_11(struct mix_cm *cm, int32_t *x)
{
	predict_as(cm, x, 11, 3, 1, 4, 1, 0);
}

static void predict_17(struct mix_cm *cm, int32_t *x)
{
	predict_as(cm, x, 17, 5, 1, 4, 1, 0);
}

static void predict_any(struct mix_cm *cm, int32_t *x)
{
	if (cm->p.det_inputs)
		predict_as(cm, x, cm->nhashed, cm->norders, 1, cm->p.match_min, cm->p.record, 0);
	else
		predict_as(cm, x, cm->nhashed, cm->norders, 0, cm->p.match_min, cm->p.record, 0);
}

#ifdef CM_HAVE_AVX2
/* the shapes with slot_find_avx2 */
#define PREDICT_AVX2(n, no)                                                                        \
	__attribute__((target("avx2"))) static void predict_##n##_avx2(struct mix_cm *cm,          \
	                                                               int32_t *x)                 \
	{                                                                                          \
		predict_as(cm, x, n, no, 1, 4, 1, 1);                                              \
	}
PREDICT_AVX2(7, 2)
PREDICT_AVX2(8, 2)
PREDICT_AVX2(9, 3)
PREDICT_AVX2(11, 3)
PREDICT_AVX2(17, 5)
#endif

void mix_cm_predict(struct mix_cm *cm, int32_t *x)
{
	cm->predict_fn(cm, x);
}

/* mix_cm_update for the context set `on` of nh contexts and matches of at least `min` bytes
 * (constants for the shapes). */
/* The work of a byte `c` that ends: the match, record and text models, then the next byte's
 * contexts, and their lines for its first nibble requested (for the context set `on` of nh
 * contexts and matches of at least `min` bytes; constants for the shapes). */
static inline __attribute__((always_inline)) void
byte_end_as(struct mix_cm *cm, uint8_t c, const uint32_t on, const int nh, const int min)
{
	cm->c8 = cm->c8 << 8 | cm->c4 >> 24;
	cm->c4 = cm->c4 << 8 | c;
	cm->c0 = 1;
	cm->bitpos = 0;
	cm->pos++;
	if (min)
		match_update(cm, min);
	if (cm->p.record || (on & MIX_CTX_RECORDS))
		record_update(cm, c);
	if (on & MIX_CTX_TEXTS)
		text_update(cm, c);
	if (on & (MIX_CTX_IND1 | MIX_CTX_IND2)) {
		uint32_t c1 = (cm->c4 >> 8) & 0xff, c2 = (cm->c4 >> 8) & 0xffff;

		cm->ind1[c1] = (uint16_t)(cm->ind1[c1] << 8 | c);
		cm->ind2[c2] = (uint16_t)(cm->ind2[c2] << 8 | c);
	}
	contexts_update(cm, on);
	lines_first(cm, nh);
	if (cm->p.record)
		rec_gather(cm); /* sets rec_agree afresh */
}

/* byte_end_as compiled for each shape, apart from the per-bit code, which then needs fewer
 * registers saved on every call. */
static __attribute__((noinline)) void byte_end_7(struct mix_cm *cm, uint8_t c)
{
	byte_end_as(cm, c, SET_7, 7, 4);
}

static __attribute__((noinline)) void byte_end_8(struct mix_cm *cm, uint8_t c)
{
	byte_end_as(cm, c, SET_8, 8, 4);
}

static __attribute__((noinline)) void byte_end_9(struct mix_cm *cm, uint8_t c)
{
	byte_end_as(cm, c, SET_9, 9, 4);
}

static __attribute__((noinline)) void byte_end_11(struct mix_cm *cm, uint8_t c)
{
	byte_end_as(cm, c, SET_11, 11, 4);
}

static __attribute__((noinline)) void byte_end_17(struct mix_cm *cm, uint8_t c)
{
	byte_end_as(cm, c, SET_17, 17, 4);
}

static __attribute__((noinline)) void byte_end_any(struct mix_cm *cm, uint8_t c)
{
	byte_end_as(cm, c, cm->p.contexts, cm->nhashed, cm->p.match_min);
}

/* mix_cm_update for nh hashed contexts, whose byte's work is byte_end (avx2: the hashed
 * contexts' counters learn with AVX2). */
static inline __attribute__((always_inline)) void
update_as(struct mix_cm *cm, int bit, const int nh, void (*byte_end)(struct mix_cm *, uint8_t),
          const int avx2)
{
	int64_t target = bit ? (1 << 22) - 1 : 0;

	if (cm->bitpos == 7) {
		/* the byte's work first, so that the next byte's lines are requested early; it
		 * reads none of what this bit's counters learn */
		byte_end(cm, (uint8_t)(cm->c0 << 1 | (uint32_t)bit));
	} else {
		cm->rec_agree &= bit ? cm->rec_ones : ~cm->rec_ones;
		cm->c0 = cm->c0 << 1 | (uint32_t)bit;
		cm->bitpos++;
	}
	/* the next bit's order-1 counter (256 KB of them, a new line every few bits): asked for
	 * now, so that the miss overlaps with the updates and the mixing until predict. A hint. */
	__builtin_prefetch(&cm->o1[(cm->c4 & 255) << 8 | cm->c0]);
#ifdef CM_HAVE_AVX2
	if (avx2) {
		counters4_update_avx2(cm, (int32_t)target);
		hashed_update_avx2(cm, bit, (int32_t)target, nh);
		return;
	}
#endif
	counter_update(cm->slot[0], target, cm->step_o0);
	counter_update(cm->slot[1], target, cm->step_o1);
	hashed_update(cm, bit, target, nh);
	if (cm->match_slot)
		counter_update(cm->match_slot, target, cm->step_255);
	if (cm->rec_slot)
		counter_update(cm->rec_slot, target, cm->step_255);
}

static void update_7(struct mix_cm *cm, int bit)
{
	update_as(cm, bit, 7, byte_end_7, 0);
}

static void update_8(struct mix_cm *cm, int bit)
{
	update_as(cm, bit, 8, byte_end_8, 0);
}

static void update_9(struct mix_cm *cm, int bit)
{
	update_as(cm, bit, 9, byte_end_9, 0);
}

static void update_11(struct mix_cm *cm, int bit)
{
	update_as(cm, bit, 11, byte_end_11, 0);
}

static void update_17(struct mix_cm *cm, int bit)
{
	update_as(cm, bit, 17, byte_end_17, 0);
}

static void update_any(struct mix_cm *cm, int bit)
{
	update_as(cm, bit, cm->nhashed, byte_end_any, 0);
}

#ifdef CM_HAVE_AVX2
#define UPDATE_AVX2(n)                                                                             \
	__attribute__((target("avx2"))) static void update_##n##_avx2(struct mix_cm *cm, int bit)  \
	{                                                                                          \
		update_as(cm, bit, n, byte_end_##n, 1);                                            \
	}
UPDATE_AVX2(7)
UPDATE_AVX2(8)
UPDATE_AVX2(9)
UPDATE_AVX2(11)
UPDATE_AVX2(17)
#endif

void mix_cm_update(struct mix_cm *cm, int bit)
{
	cm->update_fn(cm, bit);
}

/* The code for the shape of cm's context set (SHAPE_ANY: the generic code). */
static void shape_set(struct mix_cm *cm, int shape)
{
	static void (*const predict[])(struct mix_cm *, int32_t *) = {
	    [SHAPE_ANY] = predict_any, [SHAPE_7] = predict_7,   [SHAPE_8] = predict_8,
	    [SHAPE_9] = predict_9,     [SHAPE_11] = predict_11, [SHAPE_17] = predict_17};
	static void (*const update[])(struct mix_cm *, int) = {
	    [SHAPE_ANY] = update_any, [SHAPE_7] = update_7,   [SHAPE_8] = update_8,
	    [SHAPE_9] = update_9,     [SHAPE_11] = update_11, [SHAPE_17] = update_17};

	cm->shape = shape;
	cm->predict_fn = predict[shape];
	cm->update_fn = update[shape];
#ifdef CM_HAVE_AVX2
	if (cm->avx2) {
		static void (*const update_avx2[])(struct mix_cm *, int) = {
		    [SHAPE_ANY] = update_any,    [SHAPE_7] = update_7_avx2,
		    [SHAPE_8] = update_8_avx2,   [SHAPE_9] = update_9_avx2,
		    [SHAPE_11] = update_11_avx2, [SHAPE_17] = update_17_avx2};

		static void (*const predict_avx2[])(struct mix_cm *, int32_t *) = {
		    [SHAPE_ANY] = predict_any,    [SHAPE_7] = predict_7_avx2,
		    [SHAPE_8] = predict_8_avx2,   [SHAPE_9] = predict_9_avx2,
		    [SHAPE_11] = predict_11_avx2, [SHAPE_17] = predict_17_avx2};

		cm->predict_fn = predict_avx2[shape];
		cm->update_fn = update_avx2[shape];
	}
#endif
}
