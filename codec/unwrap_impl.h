/* unwrap_impl — what the unwrap modules (unwrap_plan.c, unwrap_root.c, unwrap_gzip.c,
 * unwrap_recipe.c) share; not a public API.
 *
 * A scan builds a plan through a struct unwrap_builder: the container parsers (ROOT, gzip) call
 * unwrap_builder_stream for each compressed stream they find, in increasing offset order; the
 * builder asks the recipe search to re-create it and, when it does, cuts a piece for it. The gaps
 * between streams become VERBATIM pieces at the end (unwrap_builder_finish). */
#ifndef BOAFS_UNWRAP_IMPL_H
#define BOAFS_UNWRAP_IMPL_H

#include "unwrap.h"

/* What worked for the previous streams of the file, tried first for the next (per library). */
struct unwrap_memory {
	struct unwrap_recipe last[UNWRAP_LIB_COUNT];
	int have[UNWRAP_LIB_COUNT];
	int failures[UNWRAP_LIB_COUNT]; /* streams in a row that no recipe re-created */
	/* gzip: the level class from the member header's XFL (3 = level 9, 0 = level 1, 4 =
	 * unknown), set by the gzip parser before it offers the member's stream. */
	int gzip_class;
};

struct unwrap_builder {
	const uint8_t *data;
	size_t len;
	uint64_t max_unwrapped;
	struct unwrap_plan *plan; /* pieces for streams only, until finish */
	uint32_t cap;
	uint64_t pos; /* end of the last stream piece */
	uint64_t streams_unwrapped_bytes;
	struct unwrap_memory memory;
};

/* Offers the stream at [off, off + len) of the file: `lib` says how to decode it and
 * `raw_len` is its decompressed size when the container says so (0 = unknown, gzip). Returns 0
 * whether or not it was unwrapped, -ENOMEM. */
int unwrap_builder_stream(struct unwrap_builder *b, uint64_t off, uint64_t len, uint8_t lib,
                          uint8_t origin, uint64_t raw_len);

/* The recipe search (unwrap_recipe.c): decodes the stream, finds a recipe that re-creates it and
 * returns 0 with *unwrapped (malloc'd, *unwrapped_len bytes) and *recipe set; -ENOENT when no
 * recipe re-creates it or it does not decode; -ENOMEM. */
int unwrap_recipe_find(const uint8_t *stream, size_t len, uint8_t lib, uint8_t origin,
                       uint64_t raw_len, uint64_t max_raw, struct unwrap_memory *memory,
                       struct unwrap_stats *stats, uint8_t **unwrapped, size_t *unwrapped_len,
                       struct unwrap_recipe *recipe);

/* Container parsers: 0 when the file is theirs and was walked (streams offered to `b`); a
 * positive enum unwrap_fallback when it is not or is damaged; -ENOMEM. */
int unwrap_root_scan(struct unwrap_builder *b);
int unwrap_gzip_scan(struct unwrap_builder *b);

uint32_t unwrap_lib_version_now(uint8_t lib);

#endif
