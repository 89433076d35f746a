/* unwrap — already-compressed files (ROOT baskets, gzip members) as a plan of pieces whose
 * compressed streams can be stored decompressed and re-created bit-exactly on read.
 *
 * A *plan* cuts a file of file_len bytes into an ordered list of pieces that cover [0, file_len)
 * exactly. A piece is VERBATIM (its unwrapped bytes are its logical bytes) or one compressed
 * stream (a zlib/deflate stream or an LZ4 block) whose unwrapped bytes are its decompressed
 * payload and whose recipe re-creates its logical bytes exactly. Container bytes around a stream
 * (ROOT key headers, the 9-byte ROOT block header, the xxhash64 of an L4 block, a gzip member's
 * header and trailer) stay in VERBATIM pieces. A stream's decompressed payload may go through a
 * reversible *filter* (UNWRAP_FILTER_DEC8: doubles that are short decimals as decimal mantissa
 * and exponent) that makes it smaller to code; its unwrapped bytes are then the filtered bytes.
 * The *unwrapped bytes* of the file are the concatenation, in piece order, of every piece's
 * unwrapped bytes.
 *
 * unwrap_scan only accepts a stream after re-compressing it with the recipe it found and
 * comparing every byte; unwrap_regenerate checks the xxh64 of the logical bytes it produces
 * against the one recorded at scan time, so library drift is -EIO, never wrong data.
 *
 * Owns: the ROOT file/key/block parser, the gzip member parser, the recipe search, the filters,
 * the recipe and plan formats (on-disk layout of the serialized plan is described in
 * unwrap_plan.c), and the library canaries. Does not own: where unwrapped bytes are stored or how
 * they are coded (index/, fs/), caching. Threads: no global state; every call is independent
 * (zlib/lz4 state is per call). A plan is read-only after unwrap_scan/unwrap_plan_decode and may be
 * shared between threads. Errors: 0, or a negative errno: -EINVAL (bad arguments), -ENOMEM, -EIO (a
 * stream does not decode or re-create, a checksum does not match), -EBADMSG (a serialized plan is
 * corrupt), -EPROTO (a serialized plan of a newer format), -ENOTSUP (unwrap_canary_*: this
 * program's zlib or liblz4 compresses differently from the one a plan was made with). A file that
 * is not ROOT/gzip or whose container is damaged is NOT an error: unwrap_scan returns 0 with an
 * all-VERBATIM plan and plan->fallback saying why. */
#ifndef BOAFS_UNWRAP_H
#define BOAFS_UNWRAP_H

#include <stddef.h>
#include <stdint.h>

/* Piece kinds. Values are on disk (serialized plans). */
enum unwrap_kind {
	UNWRAP_VERBATIM = 0, /* unwrapped bytes = logical bytes */
	UNWRAP_ZLIB = 1,     /* a deflate stream; wrapper (zlib, raw) from recipe.window_bits */
	UNWRAP_LZ4 = 2,      /* one LZ4 block (LZ4_compress_* output, no frame) */
};

/* Compression libraries a recipe depends on. Values are on disk. */
enum unwrap_lib {
	UNWRAP_LIB_NONE = 0,
	UNWRAP_LIB_ZLIB = 1,
	UNWRAP_LIB_LZ4 = 2,
	UNWRAP_LIB_COUNT = 3,
};

/* Where a stream was found (statistics and messages only; regeneration does not use it).
 * Values are on disk. */
enum unwrap_origin {
	UNWRAP_ORIGIN_NONE = 0,
	UNWRAP_ORIGIN_ROOT_ZL = 1, /* a ROOT "ZL" block */
	UNWRAP_ORIGIN_ROOT_L4 = 2, /* a ROOT "L4" block */
	UNWRAP_ORIGIN_GZIP = 3,    /* a gzip member's deflate stream */
};

/* Reversible re-codings of a stream's decompressed bytes (unwrap_filter.c). Values are on disk. */
enum unwrap_filter {
	UNWRAP_FILTER_NONE = 0,
	/* 8-byte big-endian doubles that are exactly m x 10^e (at most 15 digits) as e and m */
	UNWRAP_FILTER_DEC8 = 1,
	UNWRAP_FILTER_COUNT = 2,
};

/* The parameters that re-create a stream's bytes exactly from its unwrapped bytes. Fixed size;
 * all-zero for a VERBATIM piece. */
struct unwrap_recipe {
	uint8_t lib;    /* enum unwrap_lib */
	uint8_t origin; /* enum unwrap_origin */
	uint8_t level;  /* zlib: 0-9; lz4: 0 = LZ4_compress_default, 1-12 = LZ4_compress_HC level */
	int8_t window_bits;   /* zlib: 8..15 zlib wrapper, -8..-15 raw deflate (deflateInit2) */
	uint8_t mem_level;    /* zlib: 1-9 */
	uint8_t strategy;     /* zlib: Z_DEFAULT_STRATEGY .. Z_FIXED */
	uint32_t lib_version; /* major << 16 | minor << 8 | patch, e.g. zlib 1.2.13 = 0x01020d */
};

struct unwrap_piece {
	uint64_t off;           /* logical offset in the file */
	uint64_t len;           /* logical length (> 0) */
	uint64_t unwrapped_off; /* offset of this piece's bytes in the file's unwrapped bytes */
	uint64_t unwrapped_len; /* = len for VERBATIM; the filtered length for a filtered stream */
	uint64_t raw_len;       /* decompressed length (= unwrapped_len unless filtered) */
	uint64_t xxh64;         /* XXH64(seed 0) of the logical bytes; 0 for VERBATIM */
	uint8_t kind;           /* enum unwrap_kind */
	uint8_t filter;         /* enum unwrap_filter; NONE for VERBATIM */
	struct unwrap_recipe recipe;
};

/* Why a scan unwrapped nothing (or stopped). Values are on disk. */
enum unwrap_fallback {
	UNWRAP_OK = 0,             /* container parsed; streams that re-create are unwrapped */
	UNWRAP_NOT_CONTAINER = 1,  /* neither a ROOT file nor gzip */
	UNWRAP_DAMAGED_HEADER = 2, /* ROOT/gzip magic, but the file header is inconsistent */
	UNWRAP_DAMAGED_KEYS = 3,   /* the ROOT key table or a block header is garbage or cut */
	UNWRAP_DAMAGED_STREAM = 4, /* a gzip member does not decode or its trailer is wrong */
	/* the unwrapped bytes would pass opts->max_unwrapped: the streams of a ROOT file that still
	 * fit are unwrapped; a gzip file stays plain */
	UNWRAP_TOO_LARGE = 5,
};

enum unwrap_format {
	UNWRAP_FORMAT_PLAIN = 0,
	UNWRAP_FORMAT_ROOT = 1,
	UNWRAP_FORMAT_GZIP = 2,
};

/* What the scan found and what it cost (not serialized except where noted). */
struct unwrap_stats {
	uint32_t streams;           /* compressed streams found */
	uint32_t streams_unwrapped; /* of them, re-created and unwrapped */
	uint32_t streams_other;     /* streams of a codec not handled (XZ, ZS, CS, ...) */
	uint64_t bytes_unwrapped;   /* logical bytes covered by non-VERBATIM pieces */
	uint64_t recipe_tries;      /* re-compressions attempted by the recipe search */
	uint64_t recipe_bytes;      /* input bytes those re-compressions took in */
};

struct unwrap_plan {
	uint64_t file_len;
	uint64_t unwrapped_len; /* sum of the pieces' unwrapped_len */
	uint32_t n_pieces;
	struct unwrap_piece *pieces; /* owned by the plan */
	/* NULL: the unwrapped bytes hold the pieces in logical order. Otherwise n_pieces piece
	 * indexes in the order their unwrapped bytes follow each other (unwrap_plan_reorder);
	 * owned by the plan. Either way each piece's unwrapped_off says where its bytes are. */
	uint32_t *order;
	uint8_t format;   /* enum unwrap_format (serialized) */
	uint8_t fallback; /* enum unwrap_fallback (serialized) */
	/* For each library that a recipe of this plan uses: its version and the XXH64 of its canary
	 * output at scan time (unwrap_canary), both serialized; zero where unused. */
	uint32_t lib_version[UNWRAP_LIB_COUNT];
	uint64_t canary[UNWRAP_LIB_COUNT];
	struct unwrap_stats stats;
};

struct unwrap_scan_opts {
	/* Streams are left VERBATIM once the unwrapped bytes would pass this (a file that expands
	 * 40-fold is real; a gzip bomb is not). 0 = 64 x file_len + 64 MiB. */
	uint64_t max_unwrapped;
};

/* Scans `len` bytes of a file and returns a plan in *out (free with unwrap_plan_free). `opts`
 * may be NULL for the defaults. Returns 0 also for a file that is not a container or whose
 * container is damaged: then the plan is one VERBATIM piece (none for len == 0) and
 * (*out)->fallback says why. */
int unwrap_scan(const uint8_t *data, size_t len, const struct unwrap_scan_opts *opts,
                struct unwrap_plan **out);
void unwrap_plan_free(struct unwrap_plan *p);

/* Lays out the unwrapped bytes of a ROOT file's plan (`data`: the file it was made of) so that
 * the baskets of one branch family, branches whose names differ only in digits (E1 and E2, px1
 * and px2: similar values), follow each other, each with its key header, where the family's
 * first basket was; baskets under 4 KiB, other objects and container bytes stay in place. A
 * block coder then finds the repeats between them within one block. Sets p->order and every
 * piece's unwrapped_off, or leaves the plan as it is (not ROOT, nothing to move). -ENOMEM.
 * Plans so laid out are serialized as version 2; unwrap_writer refuses them (-EINVAL). */
int unwrap_plan_reorder(struct unwrap_plan *p, const uint8_t *data, size_t len);

/* Index of the piece containing logical offset `off` (binary search); -ENOENT when off >=
 * file_len. */
long unwrap_plan_find(const struct unwrap_plan *p, uint64_t off);

/* Writes the unwrapped bytes of one piece, given its logical bytes (`logical`, piece->len
 * bytes), into `out` (piece->unwrapped_len bytes). */
int unwrap_piece_unwrap(const struct unwrap_piece *piece, const uint8_t *logical, uint8_t *out);
/* Writes all unwrapped bytes of the file (plan->unwrapped_len) into `out`, given the file. */
int unwrap_plan_unwrap(const struct unwrap_plan *p, const uint8_t *data, size_t len, uint8_t *out);

/* Re-creates the logical bytes of one piece (piece->len bytes into `out`) from its unwrapped bytes
 * (piece->unwrapped_len bytes), compressing with its recipe, and checks them against
 * piece->xxh64: a mismatch (library drift, damaged unwrapped bytes) is -EIO. A recipe for a
 * library this build lacks, or of another library version, is tried anyway: the checksum decides.
 */
int unwrap_regenerate(const struct unwrap_piece *piece, const uint8_t *unwrapped, uint8_t *out);

/* Re-creating a whole file from its unwrapped bytes given in order (a plan in logical order,
 * not reordered), in any amounts (a decoder's
 * chunks): VERBATIM bytes go straight to `write`; a stream's unwrapped bytes are gathered until
 * the piece is whole, then regenerated (and checked, as unwrap_regenerate) and written.
 * unwrap_writer_finish is -EIO unless exactly plan->unwrapped_len bytes came; put is -EIO past
 * them. After an error, unwrap_writer_piece names the piece that failed. The plan must outlive
 * the writer. A `write` error is returned as it is. */
typedef int (*unwrap_write_fn)(void *arg, const uint8_t *buf, size_t len);
struct unwrap_writer;
int unwrap_writer_new(const struct unwrap_plan *p, unwrap_write_fn write, void *arg,
                      struct unwrap_writer **out);
int unwrap_writer_put(struct unwrap_writer *w, const uint8_t *unwrapped, size_t len);
int unwrap_writer_finish(struct unwrap_writer *w);
uint32_t unwrap_writer_piece(const struct unwrap_writer *w);
void unwrap_writer_free(struct unwrap_writer *w);

/* Filters (enum unwrap_filter). unwrap_filter_choose says which one pays for `len` decompressed
 * bytes (a cheap sample first, then every record). unwrap_filter_apply writes the filtered
 * bytes (at most unwrap_filter_bound bytes) and their length; unwrap_filter_invert writes back
 * exactly `raw_len` bytes, -EIO when `in` is not such a filter's output of that length. */
int unwrap_filter_choose(const uint8_t *raw, size_t len);
size_t unwrap_filter_bound(uint8_t filter, size_t len);
int unwrap_filter_apply(uint8_t filter, const uint8_t *raw, size_t len, uint8_t *out,
                        size_t *out_len);
int unwrap_filter_invert(uint8_t filter, const uint8_t *in, size_t len, uint8_t *raw,
                         size_t raw_len);

/* Serialized plan: versioned, little-endian, XXH64-checked (layout in unwrap_plan.c). A plan
 * without filtered pieces and in logical order is written as version 1, which every build since
 * unwrapping reads; any other as version 2, which older builds refuse (-EPROTO).
 * unwrap_plan_encoded_size gives the exact size that unwrap_plan_encode writes (SIZE_MAX when
 * memory runs out). Pieces cost 2-3 bytes (VERBATIM) or about 15 bytes (a stream) each. */
size_t unwrap_plan_encoded_size(const struct unwrap_plan *p);
int unwrap_plan_encode(const struct unwrap_plan *p, uint8_t *buf, size_t cap, size_t *len);
/* Parses a serialized plan; -EBADMSG for a corrupt one (bad checksum, sizes that do not add up,
 * pieces that do not cover the file), -EPROTO for a format version newer than this build. */
int unwrap_plan_decode(const uint8_t *buf, size_t len, struct unwrap_plan **out);

/* Library drift. unwrap_canary computes the XXH64 of a fixed built-in input compressed with a
 * fixed set of this build's `lib` recipes (zlib: every level and strategy; lz4: default and HC
 * 1-12), and this build's version of `lib`. unwrap_canary_check compares against what a plan
 * recorded: 0 when every library the plan uses behaves as it did, -ENOTSUP otherwise, with a
 * message naming the library and the version the plan needs in `msg` (may be NULL). */
int unwrap_canary(uint8_t lib, uint64_t *hash, uint32_t *version);
int unwrap_canary_check(const struct unwrap_plan *p, char *msg, size_t msg_len);
/* The same for one library, against a (version, hash) pair recorded elsewhere (the index keeps
 * one per library/version in use, so a mount checks each once). */
int unwrap_canary_compare(uint8_t lib, uint32_t version, uint64_t hash, char *msg, size_t msg_len);

const char *unwrap_lib_name(uint8_t lib);       /* "zlib", "lz4", "none" */
const char *unwrap_kind_name(uint8_t kind);     /* "verbatim", "zlib", "lz4" */
const char *unwrap_origin_name(uint8_t origin); /* "root-zl", "root-l4", "gzip", "none" */
const char *unwrap_fallback_str(uint8_t fallback);
/* "zlib 1.2.13 level 1 wbits 15 mem 8 strategy 0", for log lines naming a recipe. */
void unwrap_recipe_str(const struct unwrap_recipe *r, char *buf, size_t len);

#endif
