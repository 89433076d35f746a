/* unwrap_root — finds the compressed blocks of a ROOT file by walking its key table. */
#include "unwrap_impl.h"

int unwrap_root_scan(struct unwrap_builder *b)
{
	return UNWRAP_NOT_CONTAINER; /* not written yet */
}
