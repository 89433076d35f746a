/* fs_admin — the archive commands of `boa` (stats, models, fsck, gc), run on an archive
 * directory, mounted or not (fs_admin.c). argv[0] is the command name; returns the exit
 * status. */
#ifndef BOAFS_FS_ADMIN_H
#define BOAFS_FS_ADMIN_H

int fs_admin_main(int argc, char **argv);

#endif
