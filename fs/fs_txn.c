/* One index write transaction run to its end for a caller that changes the index and, with it,
 * the in-memory attributes of the nodes it holds locked: begin, the caller's changes, commit. */
#include <errno.h>

#include "fs.h"
#include "fs_txn.h"

/* idx grows the map before the next begin after each -EAGAIN; a change that still does not fit
 * after this many growths will not fit. */
#define FS_TXN_TRIES 8

int fs_txn_run(struct fs *fs, struct fs_node *const *nodes, size_t count, fs_txn_body body,
               void *arg)
{
	struct idx_inode before[FS_TXN_NODES_MAX];
	struct idx_txn *t = NULL;
	int rc, tries = 0;

	if (count > FS_TXN_NODES_MAX)
		return -EINVAL;
	for (size_t i = 0; i < count; i++)
		if (nodes[i])
			before[i] = nodes[i]->attr;
	do {
		rc = idx_write_begin(fs->idx, &t);
		if (rc)
			return rc;
		rc = body(t, arg);
		if (rc)
			idx_write_abort(t);
		else
			rc = idx_write_commit(t);
		/* Each attempt starts from the attributes the index still holds. */
		if (rc)
			for (size_t i = 0; i < count; i++)
				if (nodes[i])
					nodes[i]->attr = before[i];
	} while (rc == -EAGAIN && ++tries < FS_TXN_TRIES);
	return rc == FS_TXN_NOTHING ? 0 : rc;
}
