/* fs_ops — the libfuse low-level operation table of the daemon (fs_ops.c).
 *
 * Owns: the kernel's side of the file system: lookup counts handed to the kernel, attribute and
 * entry timeouts, open-file and directory handles (readdir offsets index a listing taken at
 * opendir), and turning results into replies.
 * Does not own: the namespace rules (fs_ns.h), nodes (fs_node.h), file data (fs_file.h).
 * Threads: libfuse calls the operations from its worker threads, any number at once; the
 * userdata of the session is the struct fs.
 * Errors: every reply carries the positive errno of what the module it called returned. */
#ifndef BOAFS_FS_OPS_H
#define BOAFS_FS_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

struct fs;

extern const struct fuse_lowlevel_ops fs_ops;
/* Once mounted: lets random reads push the blocks they decode into the kernel's page cache
 * through `se`. fs_ops_detach, when the loop has ended and before the session goes, stops that
 * and waits for stores in progress. */
void fs_ops_attach(struct fs *fs, struct fuse_session *se);
void fs_ops_detach(struct fs *fs);

#endif
