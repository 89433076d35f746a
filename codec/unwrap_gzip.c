/* unwrap_gzip — finds the deflate streams of a gzip file, member by member.
 *
 * A member (RFC 1952, integers little-endian): 1f 8b | CM (8 = deflate) | FLG | MTIME (4) | XFL |
 * OS | FEXTRA: XLEN (2) + XLEN bytes | FNAME: bytes up to a zero | FCOMMENT: the same | FHCRC (2)
 * | a raw deflate stream | CRC32 (4) of the uncompressed bytes | ISIZE (4) = their count mod 2^32.
 * Members follow each other; bytes after the last one that do not start a member stay as they
 * are. Header and trailer stay verbatim: only the deflate stream becomes a piece.
 *
 * Every member is first inflated to find where its deflate stream ends and to check its trailer;
 * only when every member checks out are the streams offered, so a damaged or cut file costs no
 * recipe search and stays plain. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "byteorder.h"
#include "unwrap_impl.h"

#define FHCRC    0x02
#define FEXTRA   0x04
#define FNAME    0x08
#define FCOMMENT 0x10
#define SINK     (256u << 10)

struct member {
	uint64_t stream_off, stream_len, raw_len;
	int level_class;
};

/* Length of the member header at `pos`, or 0 when it is not a (complete) gzip header. */
static uint64_t header_len(const uint8_t *d, uint64_t len, uint64_t pos)
{
	uint64_t q = pos + 10;
	uint8_t flg;

	if (len - pos < 10 || d[pos] != 0x1f || d[pos + 1] != 0x8b || d[pos + 2] != 8)
		return 0;
	flg = d[pos + 3];
	if (flg & 0xe0) /* reserved bits */
		return 0;
	if (flg & FEXTRA) {
		if (len - q < 2)
			return 0;
		q += 2 + (uint64_t)(d[q] | d[q + 1] << 8);
		if (q > len)
			return 0;
	}
	for (int f = FNAME; f <= FCOMMENT; f <<= 1) {
		if (!(flg & f))
			continue;
		while (q < len && d[q])
			q++;
		if (q++ >= len)
			return 0;
	}
	if (flg & FHCRC)
		q += 2;
	return q <= len ? q - pos : 0;
}

/* Inflates the raw deflate stream at `off` to find its end; checks the trailer after it. Gives
 * up past max_raw decoded bytes (a gzip bomb is not worth the time). */
static int member_check(const uint8_t *d, uint64_t len, struct member *m, uint8_t *sink,
                        uint64_t max_raw)
{
	z_stream zs = {0};
	uint32_t crc = crc32(0, NULL, 0);
	uint64_t raw = 0;
	int rc = UNWRAP_DAMAGED_STREAM, zrc;

	if (inflateInit2(&zs, -15) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)d + m->stream_off;
	/* zlib counts in uInt: feed at most 1 GiB at a time. */
	uint64_t left = len - m->stream_off;

	do {
		if (zs.avail_in == 0) {
			zs.avail_in = (uInt)(left > (1u << 30) ? (1u << 30) : left);
			left -= zs.avail_in;
		}
		zs.next_out = sink;
		zs.avail_out = SINK;
		zrc = inflate(&zs, Z_NO_FLUSH);
		crc = crc32(crc, sink, SINK - zs.avail_out);
		raw += SINK - zs.avail_out;
		if (raw > max_raw) {
			rc = UNWRAP_TOO_LARGE;
			goto out;
		}
	} while (zrc == Z_OK || (zrc == Z_BUF_ERROR && zs.avail_in == 0 && left > 0));
	if (zrc != Z_STREAM_END)
		goto out;
	m->stream_len = (uint64_t)((const uint8_t *)zs.next_in - (d + m->stream_off));
	m->raw_len = raw;
	{
		uint64_t t = m->stream_off + m->stream_len;

		if (len - t < 8 || le32_get(d + t) != crc || le32_get(d + t + 4) != (uint32_t)raw)
			goto out;
	}
	rc = 0;
out:
	inflateEnd(&zs);
	return rc;
}

int unwrap_gzip_scan(struct unwrap_builder *b)
{
	struct member *ms = NULL;
	uint8_t *sink = NULL;
	size_t n = 0, cap = 0;
	uint64_t pos = 0;
	int rc;

	if (header_len(b->data, b->len, 0) == 0)
		return b->len >= 2 && b->data[0] == 0x1f && b->data[1] == 0x8b
		           ? UNWRAP_DAMAGED_HEADER
		           : UNWRAP_NOT_CONTAINER;
	sink = malloc(SINK);
	if (!sink)
		return -ENOMEM;
	for (;;) {
		uint64_t h = header_len(b->data, b->len, pos);
		uint8_t xfl;

		if (h == 0)
			break; /* the rest stays verbatim */
		if (n == cap) {
			struct member *nm;

			cap = cap ? cap * 2 : 8;
			nm = realloc(ms, cap * sizeof(*nm));
			if (!nm) {
				rc = -ENOMEM;
				goto out;
			}
			ms = nm;
		}
		xfl = b->data[pos + 8];
		ms[n] = (struct member){.stream_off = pos + h,
		                        /* deflate writes XFL 2 for level 9, 4 for level 1 */
		                        .level_class = xfl == 2   ? 3
		                                       : xfl == 4 ? 0
		                                                  : 4};
		rc = member_check(b->data, b->len, &ms[n], sink, b->max_unwrapped);
		if (rc)
			goto out;
		pos = ms[n].stream_off + ms[n].stream_len + 8;
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		b->memory.gzip_class = ms[i].level_class;
		rc = unwrap_builder_stream(b, ms[i].stream_off, ms[i].stream_len, UNWRAP_LIB_ZLIB,
		                           UNWRAP_ORIGIN_GZIP, ms[i].raw_len);
		if (rc)
			goto out;
	}
	rc = 0;
out:
	free(sink);
	free(ms);
	return rc;
}
