#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "codec.h"

struct codec_ctx {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	int zstd_level;
};

int codec_ctx_new(int zstd_level, struct codec_ctx **out)
{
	struct codec_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->cctx = ZSTD_createCCtx();
	c->dctx = ZSTD_createDCtx();
	if (!c->cctx || !c->dctx) {
		codec_ctx_free(c);
		return -ENOMEM;
	}
	c->zstd_level = zstd_level;
	*out = c;
	return 0;
}

void codec_ctx_free(struct codec_ctx *c)
{
	if (!c)
		return;
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
	free(c);
}

const char *codec_name(uint8_t codec)
{
	switch (codec) {
	case CODEC_RAW:
		return "raw";
	case CODEC_ZSTD:
		return "zstd";
	case CODEC_BOA:
		return "boa";
	}
	return "unknown";
}

size_t codec_bound(size_t len)
{
	return ZSTD_compressBound(len);
}

int codec_encode_fast(struct codec_ctx *c, const void *raw, size_t len, void *out,
		      size_t *out_len, uint8_t *codec)
{
	size_t n = ZSTD_compressCCtx(c->cctx, out, codec_bound(len), raw, len, c->zstd_level);

	/* Keep it raw unless zstd saves at least 1/8: decoding raw costs nothing. */
	if (ZSTD_isError(n) || n > len - len / 8) {
		memcpy(out, raw, len);
		*out_len = len;
		*codec = CODEC_RAW;
		return 0;
	}
	*out_len = n;
	*codec = CODEC_ZSTD;
	return 0;
}

int codec_decode(struct codec_ctx *c, uint8_t codec, const void *payload, size_t payload_len,
		 void *raw, size_t raw_len)
{
	size_t n;

	switch (codec) {
	case CODEC_RAW:
		if (payload_len != raw_len)
			return -EIO;
		memcpy(raw, payload, raw_len);
		return 0;
	case CODEC_ZSTD:
		n = ZSTD_decompressDCtx(c->dctx, raw, raw_len, payload, payload_len);
		if (ZSTD_isError(n) || n != raw_len)
			return -EIO;
		return 0;
	}
	return -EIO;
}
