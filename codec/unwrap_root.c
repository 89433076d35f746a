/* unwrap_root — finds the compressed blocks of a ROOT file by walking its key table.
 *
 * What is read (all big-endian, as ROOT writes them):
 *   file header: "root" (4) | fVersion i32 | fBEGIN i32 | fEND: i32, or i64 when
 *     fVersion >= 1000000 (a "large" file) | ...
 *   from fBEGIN to fEND, back to back, either a free gap (an i32 holding minus its size) or a
 *   key: fNbytes i32 (key header + payload) | fVersion i16 | fObjlen i32 (uncompressed payload)
 *     | fDatime u32 | fKeylen i16 (key header size) | fCycle i16 | seek pointers and names.
 *   A key is compressed when its payload (fNbytes - fKeylen) is smaller than fObjlen. Its
 *   payload is then a sequence of blocks, each a 9-byte header (tag (2): "ZL" zlib, "L4" LZ4,
 *   "XZ", "ZS", "CS" | method (1) | compressed size (3, little-endian, not counting the header) |
 *   raw size (3, little-endian)) followed by the compressed bytes; an L4 block's compressed
 *   bytes start with an 8-byte xxhash64 of the LZ4 data. Objects over 16 MiB take several
 *   blocks; their raw sizes add up to fObjlen.
 * The key table is walked twice: once to check that every key and block is consistent, and only
 * then to offer the streams, so a damaged file costs no decompression and stays plain. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "byteorder.h"
#include "unwrap_impl.h"

#define KEY_MIN      26 /* fNbytes..fCycle (18) + two 4-byte seek pointers */
#define BLOCK_HEADER 9
#define L4_CHECKSUM  8

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t le24(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

/* Walks the blocks of one compressed payload [q, end) of fObjlen raw bytes; offers the streams
 * when `offer`. Returns 0, a positive enum unwrap_fallback, or -ENOMEM. */
static int walk_blocks(struct unwrap_builder *b, uint64_t q, uint64_t end, uint64_t objlen,
                       int offer)
{
	while (q < end) {
		const uint8_t *h = b->data + q;
		uint64_t c, u;
		int rc = 0;

		if (end - q < BLOCK_HEADER)
			return UNWRAP_DAMAGED_KEYS;
		c = le24(h + 3);
		u = le24(h + 6);
		if (c == 0 || c > end - q - BLOCK_HEADER || u > objlen)
			return UNWRAP_DAMAGED_KEYS;
		if (offer && h[0] == 'Z' && h[1] == 'L') {
			rc = unwrap_builder_stream(b, q + BLOCK_HEADER, c, UNWRAP_LIB_ZLIB,
			                           UNWRAP_ORIGIN_ROOT_ZL, u);
		} else if (offer && h[0] == 'L' && h[1] == '4') {
			/* The checksum stays verbatim: it is of the LZ4 bytes, which come back. */
			if (c > L4_CHECKSUM)
				rc = unwrap_builder_stream(b, q + BLOCK_HEADER + L4_CHECKSUM,
				                           c - L4_CHECKSUM, UNWRAP_LIB_LZ4,
				                           UNWRAP_ORIGIN_ROOT_L4, u);
		} else if (offer) {
			b->plan->stats.streams++;
			b->plan->stats.streams_other++;
		}
		if (rc)
			return rc;
		q += BLOCK_HEADER + c;
		objlen -= u;
	}
	/* A payload that ends mid-object is not a ROOT compressed object after all. */
	return objlen == 0 ? 0 : UNWRAP_DAMAGED_KEYS;
}

static int walk_keys(struct unwrap_builder *b, uint64_t begin, uint64_t end, int offer)
{
	uint64_t pos = begin;

	while (pos < end) {
		const uint8_t *k = b->data + pos;
		int32_t nbytes;
		uint32_t objlen;
		uint16_t keylen;
		int rc;

		if (end - pos < 4)
			return UNWRAP_DAMAGED_KEYS;
		nbytes = (int32_t)be32_get(k);
		if (nbytes < 0) { /* a free gap */
			if (nbytes == INT32_MIN || (uint64_t) - (int64_t)nbytes > end - pos)
				return UNWRAP_DAMAGED_KEYS;
			pos += (uint64_t) - (int64_t)nbytes;
			continue;
		}
		if ((uint64_t)nbytes < KEY_MIN || (uint64_t)nbytes > end - pos)
			return UNWRAP_DAMAGED_KEYS;
		objlen = be32_get(k + 6);
		keylen = be16(k + 14);
		/* Key versions over 1000 have 8-byte seek pointers. */
		if (keylen < KEY_MIN + (be16(k + 4) > 1000 ? 8 : 0) || keylen > (uint32_t)nbytes ||
		    objlen > INT32_MAX)
			return UNWRAP_DAMAGED_KEYS;
		if ((uint64_t)nbytes - keylen < objlen) {
			rc = walk_blocks(b, pos + keylen, pos + (uint64_t)nbytes, objlen, offer);
			if (rc)
				return rc;
		} else if ((uint64_t)nbytes - keylen != objlen) {
			/* ROOT stores an uncompressed payload of exactly fObjlen bytes. */
			return UNWRAP_DAMAGED_KEYS;
		}
		pos += (uint64_t)nbytes;
	}
	return 0;
}

int unwrap_root_scan(struct unwrap_builder *b)
{
	const uint8_t *d = b->data;
	uint64_t begin, end;
	uint32_t version;
	int rc;

	if (b->len < 4 || memcmp(d, "root", 4) != 0)
		return UNWRAP_NOT_CONTAINER;
	if (b->len < 20)
		return UNWRAP_DAMAGED_HEADER;
	version = be32_get(d + 4);
	begin = be32_get(d + 8);
	if (version >= 1000000)
		end = (uint64_t)be32_get(d + 12) << 32 | be32_get(d + 16);
	else
		end = be32_get(d + 12);
	if (begin < 20 || begin > end || end > b->len)
		return UNWRAP_DAMAGED_HEADER;
	rc = walk_keys(b, begin, end, 0);
	if (rc)
		return rc;
	return walk_keys(b, begin, end, 1);
}

/* ---- laying out the unwrapped bytes by branch family (unwrap_plan_reorder) ---- */

/* Baskets smaller than this stay where they are: many small baskets (NanoAOD-like files) of
 * many branches gain nothing from moving (measured: slightly larger), and keeping them in
 * place keeps a logical block's pieces together in the stream. */
#define MOVE_MIN (4u << 10)

struct piece_rank {
	uint64_t family; /* hash of the key's class and its name without digits; 0: stays */
	uint32_t index;
	uint32_t rank; /* index of the first piece of its family, or its own */
};

/* The XXH64 of class '\0' name-without-digits of the key at k (keylen bytes, checked), or 0
 * when its names do not fit in the key header. */
static uint64_t key_family(const uint8_t *k, uint16_t keylen)
{
	/* fNbytes..fCycle, then two seek pointers of 4 or 8 bytes, then class, name (TStrings) */
	size_t q = 18 + (be16(k + 4) > 1000 ? 16 : 8);
	char buf[2 * 256 + 1];
	size_t n = 0;

	for (int s = 0; s < 2; s++) {
		size_t l;

		if (q >= keylen)
			return 0;
		l = k[q++];
		if (l == 255 || l > keylen - q)
			return 0;
		for (size_t i = 0; i < l; i++)
			if (s == 0 || k[q + i] < '0' || k[q + i] > '9')
				buf[n++] = (char)k[q + i];
		q += l;
		if (s == 0)
			buf[n++] = 0;
	}
	return XXH64(buf, n, 0) | 1; /* never 0 */
}

static int by_family(const void *a, const void *b)
{
	const struct piece_rank *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static int by_rank(const void *a, const void *b)
{
	const struct piece_rank *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

int unwrap_plan_reorder(struct unwrap_plan *p, const uint8_t *data, size_t len)
{
	struct piece_rank *r = NULL;
	uint32_t *order = NULL;
	uint64_t begin, end, pos, uoff = 0;
	uint32_t i = 0, moved = 0;
	int rc = 0;

	if (!p || len != p->file_len || p->format != UNWRAP_FORMAT_ROOT || p->order ||
	    p->n_pieces < 2 || len < 20)
		return 0;
	begin = be32_get(data + 8);
	end = be32_get(data + 4) >= 1000000
	          ? (uint64_t)be32_get(data + 12) << 32 | be32_get(data + 16)
	          : be32_get(data + 12);
	if (begin < 20 || begin > end || end > len)
		return 0;
	r = calloc(p->n_pieces, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (uint32_t k = 0; k < p->n_pieces; k++)
		r[k].index = r[k].rank = k;
	/* Keys and pieces are both in offset order: a piece belongs to the key holding its last
	 * byte (a key's header is in the VERBATIM piece before its stream). */
	for (pos = begin; pos + 18 <= end;) {
		int32_t nbytes = (int32_t)be32_get(data + pos);
		uint64_t family = 0;
		uint16_t keylen;

		if (nbytes < 0) {
			if (nbytes == INT32_MIN)
				break;
			pos += (uint64_t) - (int64_t)nbytes;
			continue;
		}
		if ((uint64_t)nbytes < KEY_MIN || (uint64_t)nbytes > end - pos)
			break;
		keylen = be16(data + pos + 14);
		if (keylen <= (uint32_t)nbytes && be32_get(data + pos + 6) >= MOVE_MIN &&
		    (uint64_t)nbytes - keylen < be32_get(data + pos + 6)) /* compressed */
			family = key_family(data + pos, keylen);
		if (family) {
			uint64_t k_end = pos + (uint64_t)nbytes;
			const char *cls = "\x07TBasket";

			/* Baskets only: other objects (trees, streamer infos) are one of a kind. */
			if (memcmp(data + pos + 18 + (be16(data + pos + 4) > 1000 ? 16 : 8), cls,
			           8))
				family = 0;
			while (family && i < p->n_pieces &&
			       p->pieces[i].off + p->pieces[i].len <= k_end) {
				if (p->pieces[i].off + p->pieces[i].len > pos)
					r[i].family = family;
				i++;
			}
		}
		pos += (uint64_t)nbytes;
	}
	/* The rank of a family is the index of its first piece: each family is gathered where its
	 * first basket was, everything else stays in logical order around them. */
	qsort(r, p->n_pieces, sizeof(*r), by_family);
	for (uint32_t k = 0, first = 0; k < p->n_pieces; k++) {
		if (!r[k].family)
			continue;
		if (k == 0 || r[k - 1].family != r[k].family)
			first = r[k].index;
		r[k].rank = first;
	}
	qsort(r, p->n_pieces, sizeof(*r), by_rank);
	for (uint32_t k = 0; k < p->n_pieces; k++)
		moved += r[k].index != k;
	if (!moved)
		goto out;
	order = malloc(p->n_pieces * sizeof(*order));
	if (!order) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t k = 0; k < p->n_pieces; k++) {
		order[k] = r[k].index;
		p->pieces[order[k]].unwrapped_off = uoff;
		uoff += p->pieces[order[k]].unwrapped_len;
	}
	p->order = order;
out:
	free(r);
	return rc;
}
