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
#include <string.h>

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
