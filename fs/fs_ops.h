/* fs_ops — the libfuse low-level operation table of the daemon (fs_ops.c). */
#ifndef BOAFS_FS_OPS_H
#define BOAFS_FS_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops fs_ops;

#endif
