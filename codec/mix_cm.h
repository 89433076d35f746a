/* mix_cm — the context models of the BOA mixing coder: what the bytes so far say about the next
 * bit, as stretched probabilities for the mixer.
 *
 * Owns: order-0 and order-1 direct counters; hashed contexts (orders 2..7, sparse byte pairs,
 * fixed-width record contexts, text column/field contexts) in one shared table of 16-byte slots
 * (an 8-bit check, then the bit histories of the 15 nodes of one nibble; four slots to a 64-byte
 * line, replaced least-used first), each history mapped to a probability learned per kind of
 * context; the match model (the
 * longest earlier occurrence of the last bytes, found by a hash of them, predicting its next bit
 * with a confidence learned per match length); the record model (stride and phase detection,
 * and a match against the last few records). A counter is 32 bits: a 22-bit probability and a
 * 10-bit count that sets its adaptation rate, 1/(count + 1.5) down to 1/(limit + 1.5).
 * Does not own: the history bytes (the caller's chunk buffer, read up to the current position),
 * mixing (mix_mixer.h), the Mamba (boa_model.h).
 * Memory: fixed at mix_cm_new (tables sized for the largest chunk; those of 2 MB or more asked
 * for on transparent huge pages); nothing is allocated per byte. mix_cm_reset sizes the hashed
 * table to the chunk and clears only what it uses.
 * Speed: the code is compiled for each context set of the level table (any other set takes
 * the same code, generic), in a portable and an AVX2 copy picked at mix_cm_new: the AVX2 one
 * hashes a nibble's table lines 8 at a time, compares a line's four checks in two 32-byte
 * compares, and moves the counters of a bit in the lanes of vectors (the generic code only
 * hashes the lines with AVX2). The results are the same integers either way
 * (tests/codec/test_mix_cm.c). A nibble's table lines and the match table's entry are hashed
 * and prefetched ahead of use: at the byte end for the first nibble, a bit early (for both
 * values of the bit) for the others.
 * Threads: one mix_cm per stream, used by one thread.
 * Errors: mix_cm_new returns 0, -EINVAL or -ENOMEM. */
#ifndef BOAFS_MIX_CM_H
#define BOAFS_MIX_CM_H

#include <stddef.h>
#include <stdint.h>

#define MIX_CM_MAX_HASHED 24
#define MIX_CM_MAX_INPUTS (2 * MIX_CM_MAX_HASHED + 5)

/* The hashed contexts, one bit each, computed in this order (the order is part of the format:
 * it sets each context's place among the mixer inputs). */
enum {
	MIX_CTX_O1 = 1u << 1, /* bits 1..7: order-k contexts (the last k bytes) */
	MIX_CTX_O2 = 1u << 2,
	MIX_CTX_O3 = 1u << 3,
	MIX_CTX_O4 = 1u << 4,
	MIX_CTX_O5 = 1u << 5,
	MIX_CTX_O6 = 1u << 6,
	MIX_CTX_O7 = 1u << 7,
	MIX_CTX_ORDERS = 0xfeu,
	MIX_CTX_SPARSE1 = 1u << 8,  /* bytes 2-3 back */
	MIX_CTX_SPARSE2 = 1u << 9,  /* bytes 2 and 4 back */
	MIX_CTX_SPARSE3 = 1u << 10, /* bytes 1 and 5 back */
	MIX_CTX_REC1 = 1u << 11,    /* stride, column, the record so far */
	MIX_CTX_REC2 = 1u << 12,    /* stride, column, the byte a stride back, run length */
	MIX_CTX_REC3 = 1u << 13,    /* the bytes one and two strides back */
	MIX_CTX_LONG1 = 1u << 14,   /* the bytes one and two long strides back */
	MIX_CTX_LONG2 = 1u << 15,   /* a long stride back, a stride back, the last byte */
	MIX_CTX_REC4 = 1u << 16,    /* a stride back and the last byte */
	MIX_CTX_REC5 = 1u << 17,    /* column, a stride back, the last two bytes */
	MIX_CTX_RECORDS = 0x3f800u,
	MIX_CTX_TEXT1 = 1u << 18, /* text column and the byte above */
	MIX_CTX_TEXT2 = 1u << 19, /* field number and the word so far */
	MIX_CTX_TEXT3 = 1u << 20, /* the byte above, the last byte, the column */
	MIX_CTX_TEXTS = 0x1c0000u,
	MIX_CTX_IND1 = 1u << 21, /* the bytes that followed the last byte */
	MIX_CTX_IND2 = 1u << 22, /* ... the last two bytes */
	MIX_CTX_ALL = 0x7ffffeu,
};

/* The contexts of the format-1 level table, given by counts: orders (a mask of MIX_CTX_O*),
 * the first `sparse` sparse, `record` record (REC1, then REC2 with LONG1-2, REC3, REC4, REC5),
 * `text` text and `indirect` indirect contexts. */
#define MIX_CTX_COUNTS(orders, sparse, indirect, record, text)                                     \
	((uint32_t)(orders) | ((1u << (sparse)) - 1) << 8 | ((record) >= 1 ? MIX_CTX_REC1 : 0) |   \
	 ((record) >= 2 ? MIX_CTX_REC2 | MIX_CTX_LONG1 | MIX_CTX_LONG2 : 0) |                      \
	 ((record) >= 3 ? MIX_CTX_REC3 : 0) | ((record) >= 4 ? MIX_CTX_REC4 : 0) |                 \
	 ((record) >= 5 ? MIX_CTX_REC5 : 0) | ((1u << (text)) - 1) << 18 |                         \
	 ((1u << (indirect)) - 1) << 21)

/* Which contexts a level uses. */
struct mix_cm_params {
	uint32_t contexts; /* MIX_CTX_* bits: the hashed contexts */
	int record;        /* 1: the record match (the last few records) as an input */
	int det_inputs;    /* 1: each hashed context also says whether it saw one bit value only */
	int match_min;     /* minimum match length, 0 = no match model */
	int match_bits;    /* log2 of the match model's hash table */
	int hash_bits_max; /* log2 of the largest hashed table, in 64-byte lines */
	int limit;         /* counter count limit (adaptation floor), <= 1023 */
};

struct mix_cm {
	struct mix_cm_params p;
	int nhashed;
	/* history */
	const uint8_t *buf;
	uint32_t pos; /* bytes known: buf[0..pos) */
	uint32_t c0;  /* 1 followed by the bits of the current byte seen so far */
	int bitpos;
	uint32_t c4, c8; /* last 8 bytes, most recent in the low byte of c4 */
	/* hashed contexts */
	uint8_t *table;
	size_t table_cap;                     /* lines allocated */
	size_t mask;                          /* lines in use - 1 */
	uint32_t ctx_hash[MIX_CM_MAX_HASHED]; /* read 8 at a time: 24 is a multiple of 8 */
	/* the lines of the contexts for a nibble (a kernel picked for the CPU) */
	void (*lines_fn)(const uint32_t *ctx, uint32_t nib, uint32_t mask, uint32_t *idx,
	                 uint32_t *check, int n);
	uint8_t *bucket[MIX_CM_MAX_HASHED]; /* slot of each context for this nibble */
	/* each context's line (its index) and check for the nibble to come, found and prefetched
	 * ahead: [0] for the byte's first nibble, [d] for its second with 4th bit d */
	uint32_t ahead_line[2][MIX_CM_MAX_HASHED];
	uint32_t ahead_check[2][MIX_CM_MAX_HASHED];
	/* each hashed context at this bit: its bit history, and the value of the counter of the
	 * state it had when predicted (only the update writes sm), read 8 at a time by the AVX2
	 * update (24 is a multiple of 8) */
	uint8_t *at_hist[MIX_CM_MAX_HASHED];
	uint32_t at_v[MIX_CM_MAX_HASHED];
	/* the values of the order-0, order-1, match and record match counters predicted from
	 * (the last two where they predicted), for the AVX2 update */
	uint32_t at4_v[4];
	uint32_t *slot[2]; /* order-0 and order-1 counters for this bit */
	/* per kind of hashed context: bit-history state -> learned probability */
	uint32_t *sm;
	/* direct order 0 and 1 */
	uint32_t *o0; /* 256 */
	uint32_t *o1; /* 65536 */
	/* match model */
	uint32_t *match_tab;
	int match_bits; /* of match_tab in use for this chunk */
	uint32_t match_ptr, match_len;
	int match_byte;                /* expected byte, -1 if none */
	int match_bit;                 /* expected next bit when match_len > 0 */
	int match_lb;                  /* mix_cm_match_bucket() as of the last mix_cm_predict */
	int match_lb_byte, match_conf; /* set once a byte: the bucket of match_len, and the
	                                  magnitude of the input that says how long it is */
	uint32_t match_sm[64];
	uint32_t *match_slot;
	/* record model */
	uint32_t rec_last[256];
	uint16_t rec_dist[256];
	uint16_t rec_score[1024];
	uint16_t ind1[256]; /* the last two bytes that followed each byte */
	uint16_t *ind2;     /* ... each pair of bytes (65536) */
	uint32_t stride;
	uint32_t rec_long;     /* the best stride longer than 16: a record of several fields */
	uint32_t rec_run;      /* bytes in a row equal to the byte one stride back */
	uint32_t rec_prefix;   /* hash of the bytes of the current record so far */
	uint32_t rec_phase;    /* column where records start */
	uint32_t rec_col;      /* column of the next byte within its record */
	uint16_t rec_eq[1024]; /* per column: how often a byte equals the one a stride back */
	uint32_t rec_alive;    /* bit k: record k + 1 back agrees with this one so far */
	/* the record match's candidates, gathered once a byte: bit k of rec_agree: record k + 1
	 * back is alive, in the chunk, and agrees with this byte's bits so far; bit k of byte j of
	 * rec_bits: bit 7 - j of its byte; rec_ones: which of them predict a 1 at the current bit
	 */
	uint32_t rec_agree, rec_ones;
	uint64_t rec_bits;
	uint32_t rec_sm[256];
	uint32_t *rec_slot;
	/* text model */
	uint32_t line_start, prev_line_start, field, word_hash;
	/* summary for mixer contexts, valid after mix_cm_predict */
	int hits;       /* hashed contexts seen before */
	int order_hits; /* of them, order-n contexts (the first norders hashed) */
	int norders;
	int ninputs;
	/* per bit-history state: the input saying "this context has only seen one bit value" (0
	 * for state 0, a context not seen before) */
	int16_t deterministic[256];
	uint8_t used[256]; /* per state: the bits it has seen (n0 + n1), for slot replacement */
	/* a counter's step by its count n: the rate (mix_rate_tab[n]) and 1 while n is under the
	 * counter's limit, for the limits in use (127: state maps; 255: match and record match;
	 * 1023: order 0; params.limit: order 1; step_sm[1023]: 0, for state 0) */
	struct mix_cm_step {
		uint16_t rate, inc;
	} step_sm[1024], step_255[256], step_o0[1024], step_o1[1024];
	int shape; /* which compiled copy of the per-bit code fits these params */
	int avx2;  /* 1: the per-bit code's AVX2 copy (the CPU has AVX2, kernels not "portable") */
	void (*predict_fn)(struct mix_cm *cm, int32_t *x);
	void (*update_fn)(struct mix_cm *cm, int bit);
};

int mix_cm_new(const struct mix_cm_params *p, struct mix_cm **out);
void mix_cm_free(struct mix_cm *cm);
/* Starts a chunk of `len` bytes whose history is read from `buf` as it is coded. */
void mix_cm_reset(struct mix_cm *cm, const uint8_t *buf, size_t len);
/* Writes cm->ninputs stretched predictions of the next bit to `x`. */
void mix_cm_predict(struct mix_cm *cm, int32_t *x);
/* Learns the coded bit; at a byte end, buf[pos] must hold the completed byte. */
void mix_cm_update(struct mix_cm *cm, int bit);
/* Picks the kernels ("portable", or "avx2" where the CPU has it; mix_cm_new picks the fastest),
 * or ("generic") the code for any context set rather than the one compiled for this set: the
 * same results either way. Returns 0 or -ENOTSUP. For tests. */
int mix_cm_set_kernels(struct mix_cm *cm, const char *name);
/* Match length bucket 0..31 (0 = no match). */
int mix_cm_match_bucket(const struct mix_cm *cm);

#endif
