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

extern const struct fuse_lowlevel_ops fs_ops;

#endif
