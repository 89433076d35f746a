/* unwrap_filter — reversible re-codings of a stream's decompressed bytes that BOA codes smaller.
 *
 * UNWRAP_FILTER_DEC8: big-endian IEEE doubles that hold short decimals. A ROOT basket of a
 * double branch filled from measured or printed values (82.2018663875, 44.7322) is an array of
 * 8-byte doubles whose 52-bit mantissas look random to a byte coder, although each value is a
 * decimal of 6 to 12 digits: ~20-40 bits. The filter writes each 8-byte record as
 *   byte 0: sign << 7 | (e + 64), e in [-22, 22] | 7 bytes: m, big-endian (m < 2^53)
 * where the double is exactly m x 10^e (the fewest digits that give it back), or, for a record
 * that is no such decimal (NaN, infinities, subnormals, values of more than 15 digits), as
 *   byte 0: 0 | the 8 bytes as they are.
 * Bytes after the last whole record (len % 8) are copied. The output is at most len + len / 8.
 *
 * Exactness does not depend on the C library: the decoder computes m x 10^e as one IEEE
 * operation on two exactly representable doubles ((double)m * 10^e, or (double)m / 10^-e;
 * m < 2^53, 10^22 is the largest power of ten a double holds exactly), which is correctly
 * rounded, and the encoder accepts (m, e) only when that same computation gives the record's
 * bits. The encoder's search (log10, rounding) only picks which (m, e) to try. This needs
 * FLT_EVAL_METHOD 0 (SSE2 on x86-64, AArch64); where a build evaluates in wider precision the
 * per-piece and per-block XXH64 checks turn any difference into EIO, never wrong data. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "byteorder.h"
#include "unwrap_impl.h"

#define REC        8
#define EXP_MAX    22
#define EXP_BIAS   64
#define DIGITS_MAX 15
#define ESCAPE     0
/* The filter pays only when most records are short decimals: a basket of ints, floats or
 * random doubles read as doubles is almost never one. Checked on the first SAMPLE records, then
 * on the whole stream. Streams of fewer than RECORDS_MIN records are left alone: what they
 * could gain is small, and short baskets of doubles are mostly repeats of a few values (0, 1),
 * which code as small either way (measured: slightly larger filtered). */
#define SAMPLE      64
#define RECORDS_MIN 128

static const double pow10_exact[EXP_MAX + 1] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* The one computation that both sides use: m x 10^e, m < 2^53, |e| <= EXP_MAX. */
static double dec_value(uint64_t m, int e)
{
	double d = (double)m;

	return e >= 0 ? d * pow10_exact[e] : d / pow10_exact[-e];
}

static uint64_t bits_of(double x)
{
	uint64_t u;

	memcpy(&u, &x, 8);
	return u;
}

/* Finds (m, e) with the fewest digits such that dec_value(m, e) has the bits of |x|; 0 if none. */
static int dec_find(uint64_t bits, uint64_t *m_out, int *e_out)
{
	uint64_t abits = bits & ~(1ull << 63);
	double ax;
	int top;

	memcpy(&ax, &abits, 8);
	if (abits == 0) {
		*m_out = 0;
		*e_out = 0;
		return 1;
	}
	if (!isfinite(ax) || ax < DBL_MIN)
		return 0;
	top = (int)floor(log10(ax)); /* e for one digit; may be off by one, tried both ways */
	for (int e = top + 1; e >= top + 1 - DIGITS_MAX; e--) {
		double scaled;
		uint64_t m;

		if (e > EXP_MAX || e < -EXP_MAX)
			continue;
		scaled = e >= 0 ? ax / pow10_exact[e] : ax * pow10_exact[-e];
		if (!(scaled < 9007199254740992.0)) /* 2^53 */
			continue;
		m = (uint64_t)llround(scaled);
		if (m == 0 || m >= 9007199254740992ull)
			continue;
		if (bits_of(dec_value(m, e)) == abits) {
			*m_out = m;
			*e_out = e;
			return 1;
		}
	}
	return 0;
}

static size_t dec8_record(const uint8_t *in, uint8_t *out)
{
	uint64_t bits = be64_get(in), m;
	int e;

	if (!dec_find(bits, &m, &e)) {
		out[0] = ESCAPE;
		memcpy(out + 1, in, REC);
		return REC + 1;
	}
	/* m < 2^53 fits the 7 bytes; byte 0 of the big-endian u64 is zero. */
	be64_put(out, m);
	out[0] = (uint8_t)((bits >> 63) << 7 | (unsigned)(e + EXP_BIAS));
	return REC;
}

size_t unwrap_filter_bound(uint8_t filter, size_t len)
{
	return filter == UNWRAP_FILTER_DEC8 ? len + len / REC : len;
}

int unwrap_filter_choose(const uint8_t *raw, size_t len)
{
	size_t n = len / REC, sample = n < SAMPLE ? n : SAMPLE, hits = 0;
	uint64_t m;
	int e;

	/* A build that evaluates doubles in wider precision (x87) could round m x 10^e twice:
	 * it never filters (it still reads filtered pieces; the checksums guard them). */
	if (FLT_EVAL_METHOD != 0 || n < RECORDS_MIN)
		return UNWRAP_FILTER_NONE;
	for (size_t i = 0; i < sample; i++)
		hits += (size_t)dec_find(be64_get(raw + i * REC), &m, &e);
	if (hits < sample - sample / 8)
		return UNWRAP_FILTER_NONE;
	hits = 0;
	for (size_t i = 0; i < n; i++)
		hits += (size_t)dec_find(be64_get(raw + i * REC), &m, &e);
	return hits >= n - n / 8 ? UNWRAP_FILTER_DEC8 : UNWRAP_FILTER_NONE;
}

int unwrap_filter_apply(uint8_t filter, const uint8_t *raw, size_t len, uint8_t *out,
                        size_t *out_len)
{
	size_t o = 0, i = 0;

	if (filter == UNWRAP_FILTER_NONE) {
		memcpy(out, raw, len);
		*out_len = len;
		return 0;
	}
	if (filter != UNWRAP_FILTER_DEC8)
		return -EINVAL;
	for (; i + REC <= len; i += REC)
		o += dec8_record(raw + i, out + o);
	memcpy(out + o, raw + i, len - i);
	*out_len = o + (len - i);
	return 0;
}

int unwrap_filter_invert(uint8_t filter, const uint8_t *in, size_t len, uint8_t *raw,
                         size_t raw_len)
{
	size_t i = 0, o = 0;

	if (filter == UNWRAP_FILTER_NONE) {
		if (len != raw_len)
			return -EIO;
		memcpy(raw, in, len);
		return 0;
	}
	if (filter != UNWRAP_FILTER_DEC8)
		return -EIO;
	while (len - i >= REC) {
		if (raw_len - o < REC)
			return -EIO;
		if (in[i] == ESCAPE) {
			if (len - i < REC + 1)
				return -EIO;
			memcpy(raw + o, in + i + 1, REC);
			i += REC + 1;
		} else {
			int e = (in[i] & 0x7f) - EXP_BIAS;
			uint64_t m = be64_get(in + i) & 0x00ffffffffffffffull;
			uint64_t bits;

			if (e > EXP_MAX || e < -EXP_MAX || m >= 9007199254740992ull)
				return -EIO;
			bits = bits_of(dec_value(m, e)) | (uint64_t)(in[i] >> 7) << 63;
			be64_put(raw + o, bits);
			i += REC;
		}
		o += REC;
	}
	if (raw_len - o != len - i)
		return -EIO;
	memcpy(raw + o, in + i, len - i);
	return 0;
}
