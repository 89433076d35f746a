/* unwrap_gzip — finds the deflate streams of a gzip file, member by member. */
#include "unwrap_impl.h"

int unwrap_gzip_scan(struct unwrap_builder *b)
{
	return UNWRAP_NOT_CONTAINER; /* not written yet */
}
