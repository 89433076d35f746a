/* unwrap_plan — building, looking up and serializing plans (see unwrap.h).
 *
 * Serialized plan. Fixed-size integers are little-endian; "var" is an unsigned LEB128 varint
 * (7 bits a byte, low first, at most 10 bytes):
 *   magic "BUWP" (4) | version u16 (1 or 2) | format u8 | fallback u8 | file_len u64 |
 *   unwrapped_len u64 | n_pieces u32 |
 *   for lib = 1 .. UNWRAP_LIB_COUNT-1: lib_version u32, canary u64 |
 *   n_recipes u16 | n_recipes times a recipe: lib u8, origin u8, level u8, window_bits i8,
 *       mem_level u8, strategy u8, lib_version u32 |
 *   n_pieces times: kind u8 | len var | and, unless kind is VERBATIM: recipe index var (into the
 *       table above) | unwrapped_len var | xxh64 u64 | and in version 2 only: filter u8 (enum
 *       unwrap_filter) | raw_len var, only when the filter is not NONE |
 *   in version 2 only: ordered u8 (0 or 1) | when 1, n_pieces times a piece index var: the order
 *       in which the pieces' unwrapped bytes follow each other (a permutation) |
 *   XXH64 (seed 0) of every byte before it, u64.
 * Version 1 has no filters (every piece's filter is NONE and raw_len = unwrapped_len); a plan
 * without filtered pieces is still written as version 1, so that builds which only read 1 keep
 * reading it; a plan with some is version 2, which they refuse with -EPROTO.
 * Offsets are not stored: they are the running sums of the lengths (unwrapped ones in the
 * stored order). A file of many small ROOT
 * baskets has thousands of pieces and a handful of recipes, hence the table and the varints. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "byteorder.h"
#include "unwrap_impl.h"

#define PLAN_MAGIC   "BUWP"
#define PLAN_VERSION 2 /* the newest this build reads */
#define PLAN_HEAD    (4 + 2 + 1 + 1 + 8 + 8 + 4 + (UNWRAP_LIB_COUNT - 1) * 12 + 2)
#define RECIPE_SIZE  10
#define PIECE_MIN    2 /* kind and a one-byte length */
#define RECIPES_MAX  UINT16_MAX

void unwrap_plan_free(struct unwrap_plan *p)
{
	if (!p)
		return;
	free(p->pieces);
	free(p->order);
	free(p);
}

long unwrap_plan_find(const struct unwrap_plan *p, uint64_t off)
{
	uint32_t lo = 0, hi;

	if (!p || off >= p->file_len || p->n_pieces == 0)
		return -ENOENT;
	hi = p->n_pieces;
	while (hi - lo > 1) { /* invariant: pieces[lo].off <= off < pieces[hi].off */
		uint32_t mid = lo + (hi - lo) / 2;

		if (p->pieces[mid].off <= off)
			lo = mid;
		else
			hi = mid;
	}
	return (long)lo;
}

int unwrap_plan_unwrap(const struct unwrap_plan *p, const uint8_t *data, size_t len, uint8_t *out)
{
	if (!p || len != p->file_len)
		return -EINVAL;
	for (uint32_t i = 0; i < p->n_pieces; i++) {
		const struct unwrap_piece *pc = &p->pieces[i];
		int rc = unwrap_piece_unwrap(pc, data + pc->off, out + pc->unwrapped_off);

		if (rc)
			return rc;
	}
	return 0;
}

static size_t var_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *put_var(uint8_t *q, uint64_t v)
{
	while (v >= 0x80) {
		*q++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*q++ = (uint8_t)v;
	return q;
}

/* Reads a varint from [*q, end); -1 when it runs past end or over 64 bits. */
static int get_var(const uint8_t **q, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		uint8_t b;

		if (*q >= end)
			return -1;
		b = *(*q)++;
		if (shift == 63 && b > 1)
			return -1;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

static void put_recipe(uint8_t *q, const struct unwrap_recipe *r)
{
	q[0] = r->lib;
	q[1] = r->origin;
	q[2] = r->level;
	q[3] = (uint8_t)r->window_bits;
	q[4] = r->mem_level;
	q[5] = r->strategy;
	le32_put(q + 6, r->lib_version);
}

static void get_recipe(const uint8_t *q, struct unwrap_recipe *r)
{
	r->lib = q[0];
	r->origin = q[1];
	r->level = q[2];
	r->window_bits = (int8_t)q[3];
	r->mem_level = q[4];
	r->strategy = q[5];
	r->lib_version = le32_get(q + 6);
}

/* Field by field: a recipe's padding bytes are whatever its copy left there. */
static int recipe_equal(const struct unwrap_recipe *a, const struct unwrap_recipe *b)
{
	return a->lib == b->lib && a->origin == b->origin && a->level == b->level &&
	       a->window_bits == b->window_bits && a->mem_level == b->mem_level &&
	       a->strategy == b->strategy && a->lib_version == b->lib_version;
}

/* The distinct recipes of a plan, in order of first use, and each piece's index into them. */
struct recipe_table {
	struct unwrap_recipe *r;
	uint32_t n;
	uint32_t *index; /* per piece */
};

static int recipe_table_build(const struct unwrap_plan *p, struct recipe_table *t)
{
	t->n = 0;
	t->r = NULL;
	t->index = calloc(p->n_pieces ? p->n_pieces : 1, sizeof(*t->index));
	if (!t->index)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->n_pieces; i++) {
		const struct unwrap_recipe *r = &p->pieces[i].recipe;
		uint32_t k;

		if (p->pieces[i].kind == UNWRAP_VERBATIM)
			continue;
		/* Few distinct recipes per file (one or two): a linear search is enough. */
		for (k = 0; k < t->n; k++)
			if (recipe_equal(&t->r[k], r))
				break;
		if (k == t->n) {
			struct unwrap_recipe *nr;

			if (t->n == RECIPES_MAX)
				return -E2BIG;
			nr = realloc(t->r, (t->n + 1) * sizeof(*nr));
			if (!nr)
				return -ENOMEM;
			t->r = nr;
			t->r[t->n++] = *r;
		}
		t->index[i] = k;
	}
	return 0;
}

static void recipe_table_free(struct recipe_table *t)
{
	free(t->r);
	free(t->index);
}

/* The version a plan is written as: 1 unless a piece is filtered or the plan reordered. */
static uint16_t plan_version(const struct unwrap_plan *p)
{
	if (p->order)
		return 2;
	for (uint32_t i = 0; i < p->n_pieces; i++)
		if (p->pieces[i].kind != UNWRAP_VERBATIM && p->pieces[i].filter)
			return 2;
	return 1;
}

/* Bytes of the serialized plan, given its recipe table. */
static size_t encoded_size(const struct unwrap_plan *p, const struct recipe_table *t)
{
	size_t n = PLAN_HEAD + (size_t)t->n * RECIPE_SIZE + 8;
	uint16_t version = plan_version(p);

	for (uint32_t i = 0; i < p->n_pieces; i++) {
		const struct unwrap_piece *pc = &p->pieces[i];

		n += 1 + var_size(pc->len);
		if (pc->kind != UNWRAP_VERBATIM)
			n += var_size(t->index[i]) + var_size(pc->unwrapped_len) + 8;
		if (pc->kind != UNWRAP_VERBATIM && version >= 2)
			n += 1 + (pc->filter ? var_size(pc->raw_len) : 0);
	}
	if (version >= 2)
		n++;
	for (uint32_t k = 0; p->order && k < p->n_pieces; k++)
		n += var_size(p->order[k]);
	return n;
}

size_t unwrap_plan_encoded_size(const struct unwrap_plan *p)
{
	struct recipe_table t;
	size_t n = 0;

	/* On a failure, a size no buffer has, so that unwrap_plan_encode fails too. */
	if (recipe_table_build(p, &t) == 0)
		n = encoded_size(p, &t);
	recipe_table_free(&t);
	return n ? n : SIZE_MAX;
}

int unwrap_plan_encode(const struct unwrap_plan *p, uint8_t *buf, size_t cap, size_t *len)
{
	struct recipe_table t;
	uint8_t *q = buf;
	uint16_t version = plan_version(p);
	int rc;

	rc = recipe_table_build(p, &t);
	if (rc)
		goto out;
	if (cap < encoded_size(p, &t)) {
		rc = -EINVAL;
		goto out;
	}
	memcpy(q, PLAN_MAGIC, 4);
	le16_put(q + 4, version);
	q[6] = p->format;
	q[7] = p->fallback;
	le64_put(q + 8, p->file_len);
	le64_put(q + 16, p->unwrapped_len);
	le32_put(q + 24, p->n_pieces);
	q += 28;
	for (int lib = 1; lib < UNWRAP_LIB_COUNT; lib++) {
		le32_put(q, p->lib_version[lib]);
		le64_put(q + 4, p->canary[lib]);
		q += 12;
	}
	le16_put(q, (uint16_t)t.n);
	q += 2;
	for (uint32_t k = 0; k < t.n; k++) {
		put_recipe(q, &t.r[k]);
		q += RECIPE_SIZE;
	}
	for (uint32_t i = 0; i < p->n_pieces; i++) {
		const struct unwrap_piece *pc = &p->pieces[i];

		*q++ = pc->kind;
		q = put_var(q, pc->len);
		if (pc->kind == UNWRAP_VERBATIM)
			continue;
		q = put_var(q, t.index[i]);
		q = put_var(q, pc->unwrapped_len);
		le64_put(q, pc->xxh64);
		q += 8;
		if (version < 2)
			continue;
		*q++ = pc->filter;
		if (pc->filter)
			q = put_var(q, pc->raw_len);
	}
	if (version >= 2)
		*q++ = p->order != NULL;
	for (uint32_t k = 0; p->order && k < p->n_pieces; k++)
		q = put_var(q, p->order[k]);
	le64_put(q, XXH64(buf, (size_t)(q - buf), 0));
	q += 8;
	*len = (size_t)(q - buf);
out:
	recipe_table_free(&t);
	return rc;
}

/* Reads a stored order (a permutation of the pieces) and sets the unwrapped offsets from it;
 * -EBADMSG when it is none. */
static int order_decode(struct unwrap_plan *p, const uint8_t **q, const uint8_t *end)
{
	uint8_t *seen = calloc(p->n_pieces ? p->n_pieces : 1, 1);
	uint64_t uoff = 0;
	int rc = -EBADMSG;

	p->order = malloc((p->n_pieces ? p->n_pieces : 1) * sizeof(*p->order));
	if (!seen || !p->order) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t k = 0; k < p->n_pieces; k++) {
		uint64_t i;

		if (get_var(q, end, &i) || i >= p->n_pieces || seen[i])
			goto out;
		seen[i] = 1;
		p->order[k] = (uint32_t)i;
		p->pieces[i].unwrapped_off = uoff;
		uoff += p->pieces[i].unwrapped_len; /* the sum was checked in piece order */
	}
	rc = 0;
out:
	free(seen);
	return rc;
}

int unwrap_plan_decode(const uint8_t *buf, size_t len, struct unwrap_plan **out)
{
	struct unwrap_plan *p = NULL;
	struct unwrap_recipe *recipes = NULL;
	const uint8_t *q, *end;
	uint64_t off = 0, uoff = 0;
	uint32_t n, nr;
	uint16_t version;
	int rc = -EBADMSG;

	*out = NULL;
	if (len < PLAN_HEAD + 8 || memcmp(buf, PLAN_MAGIC, 4) != 0)
		return -EBADMSG;
	version = le16_get(buf + 4);
	if (version > PLAN_VERSION)
		return -EPROTO;
	if (version < 1 || le64_get(buf + len - 8) != XXH64(buf, len - 8, 0))
		return -EBADMSG;
	n = le32_get(buf + 24);
	nr = le16_get(buf + PLAN_HEAD - 2);
	/* Bound the counts by the bytes there are before allocating. */
	if (nr > (len - PLAN_HEAD - 8) / RECIPE_SIZE ||
	    n > (len - PLAN_HEAD - 8 - (size_t)nr * RECIPE_SIZE) / PIECE_MIN)
		return -EBADMSG;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->pieces = calloc(n ? n : 1, sizeof(*p->pieces));
	recipes = calloc(nr ? nr : 1, sizeof(*recipes));
	if (!p->pieces || !recipes) {
		rc = -ENOMEM;
		goto out;
	}
	p->format = buf[6];
	p->fallback = buf[7];
	p->file_len = le64_get(buf + 8);
	p->unwrapped_len = le64_get(buf + 16);
	p->n_pieces = n;
	q = buf + 28;
	end = buf + len - 8;
	for (int lib = 1; lib < UNWRAP_LIB_COUNT; lib++) {
		p->lib_version[lib] = le32_get(q);
		p->canary[lib] = le64_get(q + 4);
		q += 12;
	}
	q += 2;
	for (uint32_t k = 0; k < nr; k++) {
		get_recipe(q, &recipes[k]);
		if (recipes[k].lib != UNWRAP_LIB_ZLIB && recipes[k].lib != UNWRAP_LIB_LZ4)
			goto out;
		q += RECIPE_SIZE;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct unwrap_piece *pc = &p->pieces[i];

		if (q >= end)
			goto out;
		pc->kind = *q++;
		if (get_var(&q, end, &pc->len))
			goto out;
		pc->off = off;
		pc->unwrapped_off = uoff;
		if (pc->kind == UNWRAP_VERBATIM) {
			pc->unwrapped_len = pc->len;
			pc->raw_len = pc->len;
		} else {
			uint64_t k;

			if (pc->kind > UNWRAP_LZ4 || get_var(&q, end, &k) || k >= nr ||
			    get_var(&q, end, &pc->unwrapped_len) || end - q < 8)
				goto out;
			pc->recipe = recipes[k];
			pc->xxh64 = le64_get(q);
			q += 8;
			if (pc->recipe.lib !=
			    (pc->kind == UNWRAP_ZLIB ? UNWRAP_LIB_ZLIB : UNWRAP_LIB_LZ4))
				goto out;
			pc->raw_len = pc->unwrapped_len;
			if (version >= 2) {
				if (q >= end)
					goto out;
				pc->filter = *q++;
				if (pc->filter >= UNWRAP_FILTER_COUNT ||
				    (pc->filter && get_var(&q, end, &pc->raw_len)))
					goto out;
				/* What the filter can make of raw_len bytes, no more. */
				if (pc->filter &&
				    (pc->raw_len > SIZE_MAX ||
				     pc->unwrapped_len >
				         unwrap_filter_bound(pc->filter, pc->raw_len)))
					goto out;
			}
		}
		/* Lengths must be > 0 and the sums must not wrap. */
		if (pc->len == 0 || pc->len > p->file_len - off ||
		    pc->unwrapped_len > UINT64_MAX - uoff)
			goto out;
		off += pc->len;
		uoff += pc->unwrapped_len;
	}
	if (version >= 2) {
		if (q >= end || *q > 1)
			goto out;
		if (*q++ == 1) {
			rc = order_decode(p, &q, end);
			if (rc)
				goto out;
			rc = -EBADMSG;
		}
		/* Version 2 only for what needs it: a plan reads back as the bytes it came from. */
		if (plan_version(p) != 2)
			goto out;
	}
	if (q != end || off != p->file_len || uoff != p->unwrapped_len)
		goto out;
	*out = p;
	p = NULL;
	rc = 0;
out:
	free(recipes);
	unwrap_plan_free(p);
	return rc;
}

const char *unwrap_lib_name(uint8_t lib)
{
	switch (lib) {
	case UNWRAP_LIB_ZLIB:
		return "zlib";
	case UNWRAP_LIB_LZ4:
		return "lz4";
	default:
		return "none";
	}
}

const char *unwrap_kind_name(uint8_t kind)
{
	switch (kind) {
	case UNWRAP_VERBATIM:
		return "verbatim";
	case UNWRAP_ZLIB:
		return "zlib";
	case UNWRAP_LZ4:
		return "lz4";
	default:
		return "unknown";
	}
}

const char *unwrap_origin_name(uint8_t origin)
{
	switch (origin) {
	case UNWRAP_ORIGIN_ROOT_ZL:
		return "root-zl";
	case UNWRAP_ORIGIN_ROOT_L4:
		return "root-l4";
	case UNWRAP_ORIGIN_GZIP:
		return "gzip";
	default:
		return "none";
	}
}

const char *unwrap_fallback_str(uint8_t fallback)
{
	switch (fallback) {
	case UNWRAP_OK:
		return "container parsed";
	case UNWRAP_NOT_CONTAINER:
		return "not a ROOT or gzip file";
	case UNWRAP_DAMAGED_HEADER:
		return "damaged file header";
	case UNWRAP_DAMAGED_KEYS:
		return "damaged or truncated ROOT key table";
	case UNWRAP_DAMAGED_STREAM:
		return "damaged or truncated gzip member";
	case UNWRAP_TOO_LARGE:
		return "unwrapped bytes over the limit";
	default:
		return "unknown";
	}
}

void unwrap_recipe_str(const struct unwrap_recipe *r, char *buf, size_t len)
{
	uint32_t v = r->lib_version;

	if (r->lib == UNWRAP_LIB_ZLIB)
		snprintf(buf, len, "zlib %u.%u.%u level %u wbits %d mem %u strategy %u (%s)",
		         v >> 16, (v >> 8) & 0xff, v & 0xff, r->level, r->window_bits, r->mem_level,
		         r->strategy, unwrap_origin_name(r->origin));
	else if (r->lib == UNWRAP_LIB_LZ4)
		snprintf(buf, len, "lz4 %u.%u.%u %s level %u (%s)", v >> 16, (v >> 8) & 0xff,
		         v & 0xff, r->level ? "hc" : "default", r->level,
		         unwrap_origin_name(r->origin));
	else
		snprintf(buf, len, "verbatim");
}

/* ---- building a plan during a scan ---- */

static int builder_push(struct unwrap_builder *b, const struct unwrap_piece *pc)
{
	struct unwrap_plan *p = b->plan;

	if (p->n_pieces == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 64;
		struct unwrap_piece *np = realloc(p->pieces, cap * sizeof(*np));

		if (!np)
			return -ENOMEM;
		p->pieces = np;
		b->cap = cap;
	}
	p->pieces[p->n_pieces++] = *pc;
	return 0;
}

int unwrap_builder_stream(struct unwrap_builder *b, uint64_t off, uint64_t len, uint8_t lib,
                          uint8_t origin, uint64_t raw_len)
{
	struct unwrap_plan *p = b->plan;
	struct unwrap_piece pc = {0};
	uint8_t *unwrapped = NULL;
	size_t unwrapped_len = 0;
	uint64_t room;
	int rc;

	p->stats.streams++;
	/* Streams come in offset order and never overlap; a parser bug must not make bad plans. */
	if (off < b->pos || len == 0 || off > b->len || len > b->len - off)
		return 0;
	room = b->max_unwrapped > p->unwrapped_len ? b->max_unwrapped - p->unwrapped_len : 0;
	/* The verbatim bytes still to come count against the limit too. */
	room = room > b->len - len ? room - (b->len - len) : 0;
	if (raw_len > room) {
		p->fallback = UNWRAP_TOO_LARGE;
		return 0;
	}
	rc = unwrap_recipe_find(b->data + off, len, lib, origin, raw_len, room, &b->memory,
	                        &p->stats, &unwrapped, &unwrapped_len, &pc.recipe);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	pc.off = off;
	pc.len = len;
	pc.raw_len = unwrapped_len;
	pc.kind = lib == UNWRAP_LIB_ZLIB ? UNWRAP_ZLIB : UNWRAP_LZ4;
	pc.xxh64 = XXH64(b->data + off, len, 0);
	pc.filter = (uint8_t)unwrap_filter_choose(unwrapped, unwrapped_len);
	if (pc.filter) {
		/* The stream's bytes as stored are the filtered ones; the plan keeps only their
		 * length (unwrap_piece_unwrap makes them again). */
		uint8_t *f = malloc(unwrap_filter_bound(pc.filter, unwrapped_len));
		size_t n = 0;

		if (!f) {
			free(unwrapped);
			return -ENOMEM;
		}
		rc = unwrap_filter_apply(pc.filter, unwrapped, unwrapped_len, f, &n);
		free(f);
		if (rc || n > room) {
			pc.filter = UNWRAP_FILTER_NONE;
			n = unwrapped_len;
		}
		unwrapped_len = n;
	}
	pc.unwrapped_len = unwrapped_len;
	free(unwrapped);
	rc = builder_push(b, &pc);
	if (rc)
		return rc;
	b->pos = off + len;
	/* Only the stream's own expansion counts here; finish adds the verbatim bytes. */
	p->unwrapped_len += unwrapped_len;
	b->streams_unwrapped_bytes += len;
	p->stats.streams_unwrapped++;
	p->stats.bytes_unwrapped += len;
	p->lib_version[pc.recipe.lib] = pc.recipe.lib_version;
	return 0;
}

/* Turns the list of stream pieces into a full plan: VERBATIM pieces fill the gaps. */
static int builder_finish(struct unwrap_builder *b)
{
	struct unwrap_plan *p = b->plan;
	struct unwrap_piece *streams = p->pieces;
	uint32_t n = p->n_pieces, k = 0;
	uint64_t pos = 0, uoff = 0;
	int rc = 0;

	p->pieces = NULL;
	p->n_pieces = 0;
	b->cap = 0;
	for (uint32_t i = 0; i <= n; i++) {
		uint64_t next = i < n ? streams[i].off : b->len;

		if (next > pos) {
			struct unwrap_piece v = {.off = pos,
			                         .len = next - pos,
			                         .unwrapped_off = uoff,
			                         .unwrapped_len = next - pos,
			                         .raw_len = next - pos,
			                         .kind = UNWRAP_VERBATIM};

			rc = builder_push(b, &v);
			if (rc)
				goto out;
			uoff += v.unwrapped_len;
		}
		if (i == n)
			break;
		streams[i].unwrapped_off = uoff;
		rc = builder_push(b, &streams[i]);
		if (rc)
			goto out;
		uoff += streams[i].unwrapped_len;
		pos = streams[i].off + streams[i].len;
		k++;
	}
	p->unwrapped_len = uoff;
	for (int lib = 1; lib < UNWRAP_LIB_COUNT; lib++) {
		uint32_t version;

		if (!p->lib_version[lib])
			continue;
		rc = unwrap_canary(lib, &p->canary[lib], &version);
		if (rc)
			goto out;
	}
out:
	free(streams);
	return rc;
}

int unwrap_scan(const uint8_t *data, size_t len, const struct unwrap_scan_opts *opts,
                struct unwrap_plan **out)
{
	struct unwrap_builder b = {.data = data, .len = len};
	int rc;

	*out = NULL;
	if (!data && len)
		return -EINVAL;
	b.plan = calloc(1, sizeof(*b.plan));
	if (!b.plan)
		return -ENOMEM;
	b.plan->file_len = len;
	b.max_unwrapped =
	    opts && opts->max_unwrapped ? opts->max_unwrapped : 64 * (uint64_t)len + (64u << 20);
	rc = unwrap_root_scan(&b);
	if (rc == UNWRAP_NOT_CONTAINER) {
		rc = unwrap_gzip_scan(&b);
		if (rc == 0)
			b.plan->format = UNWRAP_FORMAT_GZIP;
	} else if (rc == 0) {
		b.plan->format = UNWRAP_FORMAT_ROOT;
	}
	if (rc < 0)
		goto out;
	if (rc > 0) {
		/* Not a container, or a damaged one: the whole file stays as it is. */
		struct unwrap_stats stats = b.plan->stats;

		b.plan->n_pieces = 0;
		b.plan->unwrapped_len = 0;
		memset(b.plan->lib_version, 0, sizeof(b.plan->lib_version));
		memset(&b.plan->stats, 0, sizeof(b.plan->stats));
		b.plan->stats.recipe_tries = stats.recipe_tries;
		b.plan->stats.recipe_bytes = stats.recipe_bytes;
		b.plan->format = UNWRAP_FORMAT_PLAIN;
		b.plan->fallback = (uint8_t)rc;
	}
	rc = builder_finish(&b);
out:
	if (rc) {
		unwrap_plan_free(b.plan);
		return rc;
	}
	*out = b.plan;
	return 0;
}
