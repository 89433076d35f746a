/* unwrap_recipe — recipe search, regeneration and canaries. */
#include <errno.h>
#include <string.h>

#include "unwrap_impl.h"

int unwrap_recipe_find(const uint8_t *stream, size_t len, uint8_t lib, uint8_t origin,
                       uint64_t raw_len, uint64_t max_raw, struct unwrap_memory *memory,
                       struct unwrap_stats *stats, uint8_t **unwrapped, size_t *unwrapped_len,
                       struct unwrap_recipe *recipe)
{
	return -ENOENT; /* not written yet */
}

int unwrap_piece_unwrap(const struct unwrap_piece *piece, const uint8_t *logical, uint8_t *out)
{
	if (piece->kind != UNWRAP_VERBATIM)
		return -ENOSYS; /* not written yet */
	memcpy(out, logical, piece->len);
	return 0;
}

int unwrap_regenerate(const struct unwrap_piece *piece, const uint8_t *unwrapped, uint8_t *out)
{
	if (piece->kind != UNWRAP_VERBATIM)
		return -ENOSYS; /* not written yet */
	memcpy(out, unwrapped, piece->len);
	return 0;
}

int unwrap_canary(uint8_t lib, uint64_t *hash, uint32_t *version)
{
	return -ENOSYS; /* not written yet */
}

int unwrap_canary_check(const struct unwrap_plan *p, char *msg, size_t msg_len)
{
	return -ENOSYS; /* not written yet */
}

int unwrap_canary_compare(uint8_t lib, uint32_t version, uint64_t hash, char *msg, size_t msg_len)
{
	return -ENOSYS; /* not written yet */
}

uint32_t unwrap_lib_version_now(uint8_t lib)
{
	return 0;
}
