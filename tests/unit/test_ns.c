/* Unit tests of the namespace rules (fs/fs_ns.h) without a mount: each test is one behaviour, on
 * a new archive in a temporary directory opened as the daemon opens it (no FUSE). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs.h"
#include "fs_archive.h"
#include "fs_file.h"
#include "fs_log.h"
#include "fs_node.h"
#include "fs_ns.h"

#define ROOT IDX_ROOT_INO

struct fixture {
	char dir[64];
	char archive[80];
	struct fs *fs;
};

static const struct fs_ns_who user = {.uid = 1000, .gid = 100};
static const struct fs_ns_who root_user = {.uid = 0, .gid = 0};

static void open_archive(struct fixture *f)
{
	struct fs_options opt = {
	    .block_size = 128 << 10,
	    .zstd_level = 3,
	    .cache_size = 4 << 20,
	    .threads = 1,
	    .recompress = FS_RECOMPRESS_OFF,
	    .boa_level = 1,
	};

	assert_int_equal(fs_open(f->archive, &opt, &f->fs), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/boafs-ns-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->archive, sizeof(f->archive), "%s/archive", f->dir);
	open_archive(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	assert_int_equal(fs_close(f->fs), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* The attributes of `ino` as the node table holds them now. */
static struct idx_inode attr_of(struct fs *fs, uint64_t ino)
{
	struct fs_node *n;
	struct idx_inode a;

	assert_int_equal(fs_node_get(fs, ino, &n), 0);
	a = n->attr;
	fs_node_put(fs, n);
	return a;
}

/* Makes `name` in `parent` (a directory when `dir`, else a regular file) and returns its ino. */
static uint64_t make(struct fs *fs, uint64_t parent, const char *name, int dir)
{
	struct fs_node *n;
	uint64_t ino;

	if (dir)
		assert_int_equal(fs_ns_mkdir(fs, &user, parent, name, 0755, &n), 0);
	else
		assert_int_equal(fs_ns_mknod(fs, &user, parent, name, S_IFREG | 0644, 0, &n), 0);
	ino = n->ino;
	fs_node_put(fs, n);
	return ino;
}

static int exists(struct fs *fs, uint64_t parent, const char *name)
{
	struct fs_node *n;
	int rc = fs_ns_lookup(fs, parent, name, &n);

	if (rc)
		return rc;
	fs_node_put(fs, n);
	return 1;
}

static void test_new_file_belongs_to_its_maker(void **state)
{
	struct fixture *f = *state;
	struct idx_inode a = attr_of(f->fs, make(f->fs, ROOT, "file", 0));

	assert_int_equal(a.uid, user.uid);
	assert_int_equal(a.gid, user.gid);
	assert_int_equal(a.mode, S_IFREG | 0644);
	assert_int_equal(a.nlink, 1);
}

static void test_mkdir_adds_the_dotdot_link_to_the_parent(void **state)
{
	struct fixture *f = *state;
	uint32_t before = attr_of(f->fs, ROOT).nlink;
	uint64_t d = make(f->fs, ROOT, "dir", 1);

	assert_int_equal(attr_of(f->fs, d).nlink, 2);
	assert_int_equal(attr_of(f->fs, ROOT).nlink, before + 1);
}

static void test_setgid_directory_passes_its_group_and_setgid_on(void **state)
{
	struct fixture *f = *state;
	struct fs_ns_setattr sgid = {
	    .set = FS_NS_SET_MODE | FS_NS_SET_GID, .mode = 02775, .gid = 500};
	struct idx_inode out, sub, file;
	uint64_t d = make(f->fs, ROOT, "shared", 1);

	assert_int_equal(fs_ns_setattr(f->fs, d, &sgid, &out), 0);
	sub = attr_of(f->fs, make(f->fs, d, "sub", 1));
	file = attr_of(f->fs, make(f->fs, d, "file", 0));
	assert_int_equal(sub.gid, 500);
	assert_true(sub.mode & S_ISGID);
	assert_int_equal(file.gid, 500);
	assert_false(file.mode & S_ISGID);
}

static void test_make_over_an_existing_name_is_eexist(void **state)
{
	struct fixture *f = *state;
	struct fs_node *n;

	make(f->fs, ROOT, "x", 0);
	assert_int_equal(fs_ns_mknod(f->fs, &user, ROOT, "x", S_IFREG | 0600, 0, &n), -EEXIST);
	assert_int_equal(fs_ns_mkdir(f->fs, &user, ROOT, "x", 0700, &n), -EEXIST);
}

static void test_mknod_refuses_a_directory_mode(void **state)
{
	struct fixture *f = *state;
	struct fs_node *n;

	assert_int_equal(fs_ns_mknod(f->fs, &user, ROOT, "d", S_IFDIR | 0755, 0, &n), -EINVAL);
	assert_int_equal(exists(f->fs, ROOT, "d"), -ENOENT);
}

static void test_bad_names_are_refused(void **state)
{
	struct fixture *f = *state;
	char longname[IDX_NAME_MAX + 2];
	struct fs_node *n;

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(fs_ns_mkdir(f->fs, &user, ROOT, "", 0755, &n), -ENOENT);
	assert_int_equal(fs_ns_mkdir(f->fs, &user, ROOT, longname, 0755, &n), -ENAMETOOLONG);
	assert_int_equal(fs_ns_lookup(f->fs, ROOT, longname, &n), -ENAMETOOLONG);
}

static void test_make_inside_a_file_is_enotdir(void **state)
{
	struct fixture *f = *state;
	uint64_t file = make(f->fs, ROOT, "file", 0);
	struct fs_node *n;

	assert_int_equal(fs_ns_mkdir(f->fs, &user, file, "sub", 0755, &n), -ENOTDIR);
}

static void test_make_inside_a_removed_directory_is_enoent(void **state)
{
	struct fixture *f = *state;
	struct fs_node *held, *n;
	uint64_t d = make(f->fs, ROOT, "gone", 1);

	assert_int_equal(fs_node_get(f->fs, d, &held), 0); /* as a process's cwd would */
	assert_int_equal(fs_ns_rmdir(f->fs, ROOT, "gone"), 0);
	assert_int_equal(fs_ns_mknod(f->fs, &user, d, "f", S_IFREG | 0600, 0, &n), -ENOENT);
	fs_node_put(f->fs, held);
}

static void test_unlink_of_a_directory_is_eisdir(void **state)
{
	struct fixture *f = *state;

	make(f->fs, ROOT, "dir", 1);
	assert_int_equal(fs_ns_unlink(f->fs, ROOT, "dir"), -EISDIR);
	assert_int_equal(exists(f->fs, ROOT, "dir"), 1);
}

static void test_rmdir_of_a_file_is_enotdir(void **state)
{
	struct fixture *f = *state;

	make(f->fs, ROOT, "file", 0);
	assert_int_equal(fs_ns_rmdir(f->fs, ROOT, "file"), -ENOTDIR);
	assert_int_equal(exists(f->fs, ROOT, "file"), 1);
}

static void test_rmdir_of_a_nonempty_directory_is_enotempty(void **state)
{
	struct fixture *f = *state;
	uint64_t d = make(f->fs, ROOT, "dir", 1);

	make(f->fs, d, "file", 0);
	assert_int_equal(fs_ns_rmdir(f->fs, ROOT, "dir"), -ENOTEMPTY);
}

static void test_rmdir_gives_back_the_parents_link(void **state)
{
	struct fixture *f = *state;
	uint32_t before = attr_of(f->fs, ROOT).nlink;

	make(f->fs, ROOT, "dir", 1);
	assert_int_equal(fs_ns_rmdir(f->fs, ROOT, "dir"), 0);
	assert_int_equal(attr_of(f->fs, ROOT).nlink, before);
	assert_int_equal(exists(f->fs, ROOT, "dir"), -ENOENT);
}

static void test_link_counts_names_and_unlink_drops_one(void **state)
{
	struct fixture *f = *state;
	uint64_t ino = make(f->fs, ROOT, "a", 0);
	struct fs_node *n;

	assert_int_equal(fs_ns_link(f->fs, ino, ROOT, "b", &n), 0);
	assert_int_equal(n->ino, ino);
	fs_node_put(f->fs, n);
	assert_int_equal(attr_of(f->fs, ino).nlink, 2);
	assert_int_equal(fs_ns_unlink(f->fs, ROOT, "a"), 0);
	assert_int_equal(attr_of(f->fs, ino).nlink, 1);
	assert_int_equal(exists(f->fs, ROOT, "a"), -ENOENT);
	assert_int_equal(exists(f->fs, ROOT, "b"), 1);
}

static void test_link_of_a_directory_is_eperm(void **state)
{
	struct fixture *f = *state;
	uint64_t d = make(f->fs, ROOT, "dir", 1);
	struct fs_node *n;

	assert_int_equal(fs_ns_link(f->fs, d, ROOT, "alias", &n), -EPERM);
}

static void test_link_over_an_existing_name_is_eexist(void **state)
{
	struct fixture *f = *state;
	uint64_t ino = make(f->fs, ROOT, "a", 0);
	struct fs_node *n;

	make(f->fs, ROOT, "b", 0);
	assert_int_equal(fs_ns_link(f->fs, ino, ROOT, "b", &n), -EEXIST);
	assert_int_equal(attr_of(f->fs, ino).nlink, 1);
}

static void test_rename_file_over_a_directory_is_eisdir(void **state)
{
	struct fixture *f = *state;

	make(f->fs, ROOT, "file", 0);
	make(f->fs, ROOT, "dir", 1);
	assert_int_equal(fs_ns_rename(f->fs, ROOT, "file", ROOT, "dir", 0), -EISDIR);
}

static void test_rename_directory_over_a_file_is_enotdir(void **state)
{
	struct fixture *f = *state;

	make(f->fs, ROOT, "file", 0);
	make(f->fs, ROOT, "dir", 1);
	assert_int_equal(fs_ns_rename(f->fs, ROOT, "dir", ROOT, "file", 0), -ENOTDIR);
}

static void test_rename_into_a_file_is_enotdir(void **state)
{
	struct fixture *f = *state;
	uint64_t file = make(f->fs, ROOT, "file", 0);

	make(f->fs, ROOT, "other", 0);
	/* The file has no entries, so the new name is free; the parent is still no directory. */
	assert_int_equal(fs_ns_rename(f->fs, ROOT, "other", file, "x", 0), -ENOTDIR);
}

static void test_rename_of_a_directory_moves_its_dotdot_link(void **state)
{
	struct fixture *f = *state;
	uint64_t a = make(f->fs, ROOT, "a", 1), b = make(f->fs, ROOT, "b", 1);

	make(f->fs, a, "sub", 1);
	assert_int_equal(attr_of(f->fs, a).nlink, 3);
	assert_int_equal(fs_ns_rename(f->fs, a, "sub", b, "sub", 0), 0);
	assert_int_equal(attr_of(f->fs, a).nlink, 2);
	assert_int_equal(attr_of(f->fs, b).nlink, 3);
}

static void test_rename_over_a_file_frees_the_old_one(void **state)
{
	struct fixture *f = *state;
	uint64_t src = make(f->fs, ROOT, "src", 0), dst = make(f->fs, ROOT, "dst", 0);
	struct fs_node *n;

	assert_int_equal(fs_ns_rename(f->fs, ROOT, "src", ROOT, "dst", 0), 0);
	assert_int_equal(fs_ns_lookup(f->fs, ROOT, "dst", &n), 0);
	assert_int_equal(n->ino, src);
	fs_node_put(f->fs, n);
	assert_int_equal(exists(f->fs, ROOT, "src"), -ENOENT);
	assert_int_equal(fs_node_get(f->fs, dst, &n), -ENOENT);
}

static void test_rename_over_a_nonempty_directory_is_enotempty(void **state)
{
	struct fixture *f = *state;
	uint64_t full = make(f->fs, ROOT, "full", 1);

	make(f->fs, full, "file", 0);
	make(f->fs, ROOT, "empty", 1);
	assert_int_equal(fs_ns_rename(f->fs, ROOT, "empty", ROOT, "full", 0), -ENOTEMPTY);
}

static void test_rename_flags(void **state)
{
	struct fixture *f = *state;

	make(f->fs, ROOT, "a", 0);
	make(f->fs, ROOT, "b", 0);
	assert_int_equal(fs_ns_rename(f->fs, ROOT, "a", ROOT, "b", RENAME_NOREPLACE), -EEXIST);
	assert_int_equal(fs_ns_rename(f->fs, ROOT, "a", ROOT, "c", RENAME_EXCHANGE), -ENOENT);
	assert_int_equal(
	    fs_ns_rename(f->fs, ROOT, "a", ROOT, "b", RENAME_NOREPLACE | RENAME_EXCHANGE), -EINVAL);
	assert_int_equal(fs_ns_rename(f->fs, ROOT, "a", ROOT, "b", RENAME_WHITEOUT), -EINVAL);
}

static void test_rename_exchange_swaps_and_moves_dotdot(void **state)
{
	struct fixture *f = *state;
	uint64_t a = make(f->fs, ROOT, "a", 1), b = make(f->fs, ROOT, "b", 1);
	uint64_t dir = make(f->fs, a, "x", 1), file = make(f->fs, b, "y", 0);
	struct fs_node *n;

	assert_int_equal(fs_ns_rename(f->fs, a, "x", b, "y", RENAME_EXCHANGE), 0);
	assert_int_equal(fs_ns_lookup(f->fs, a, "x", &n), 0);
	assert_int_equal(n->ino, file);
	fs_node_put(f->fs, n);
	assert_int_equal(fs_ns_lookup(f->fs, b, "y", &n), 0);
	assert_int_equal(n->ino, dir);
	fs_node_put(f->fs, n);
	assert_int_equal(attr_of(f->fs, a).nlink, 2);
	assert_int_equal(attr_of(f->fs, b).nlink, 3);
}

static void test_rename_between_two_names_of_one_file_does_nothing(void **state)
{
	struct fixture *f = *state;
	uint64_t ino = make(f->fs, ROOT, "a", 0);
	struct fs_node *n;

	assert_int_equal(fs_ns_link(f->fs, ino, ROOT, "b", &n), 0);
	fs_node_put(f->fs, n);
	assert_int_equal(fs_ns_rename(f->fs, ROOT, "a", ROOT, "b", 0), 0);
	assert_int_equal(exists(f->fs, ROOT, "a"), 1);
	assert_int_equal(exists(f->fs, ROOT, "b"), 1);
	assert_int_equal(attr_of(f->fs, ino).nlink, 2);
}

static void test_symlink_target_reads_back(void **state)
{
	struct fixture *f = *state;
	struct fs_node *n;
	char buf[64];
	size_t len;
	uint64_t ino;

	assert_int_equal(fs_ns_symlink(f->fs, &user, ROOT, "l", "some/where", &n), 0);
	ino = n->ino;
	assert_true(S_ISLNK(n->attr.mode));
	fs_node_put(f->fs, n);
	assert_int_equal(fs_ns_readlink(f->fs, ino, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, strlen("some/where"));
	assert_memory_equal(buf, "some/where", len);
	assert_int_equal(fs_ns_symlink(f->fs, &user, ROOT, "empty", "", &n), -ENOENT);
}

static void test_readlink_of_a_file_is_einval(void **state)
{
	struct fixture *f = *state;
	char buf[16];
	size_t len;

	assert_int_equal(fs_ns_readlink(f->fs, make(f->fs, ROOT, "f", 0), buf, sizeof(buf), &len),
	                 -EINVAL);
}

static void test_truncate_of_a_directory_is_eisdir_and_of_a_symlink_einval(void **state)
{
	struct fixture *f = *state;
	struct fs_ns_setattr trunc = {.set = FS_NS_SET_SIZE, .size = 0};
	struct idx_inode out;
	struct fs_node *n;
	uint64_t link;

	assert_int_equal(fs_ns_symlink(f->fs, &user, ROOT, "l", "target", &n), 0);
	link = n->ino;
	fs_node_put(f->fs, n);
	assert_int_equal(fs_ns_setattr(f->fs, make(f->fs, ROOT, "d", 1), &trunc, &out), -EISDIR);
	assert_int_equal(fs_ns_setattr(f->fs, link, &trunc, &out), -EINVAL);
}

static void test_setattr_sets_what_it_is_asked_and_bumps_ctime(void **state)
{
	struct fixture *f = *state;
	uint64_t ino = make(f->fs, ROOT, "f", 0);
	struct fs_ns_setattr a = {
	    .set = FS_NS_SET_MODE | FS_NS_SET_UID | FS_NS_SET_MTIME | FS_NS_SET_SIZE,
	    .mode = S_IFDIR | 0600, /* the file type never changes */
	    .uid = 42,
	    .mtime_ns = 1000000000,
	    .size = 5000,
	};
	struct idx_inode before = attr_of(f->fs, ino), out, stored;

	assert_int_equal(fs_ns_setattr(f->fs, ino, &a, &out), 0);
	assert_int_equal(out.mode, S_IFREG | 0600);
	assert_int_equal(out.uid, 42);
	assert_int_equal(out.gid, before.gid);
	assert_int_equal(out.size, 5000);
	assert_int_equal(out.mtime_ns, 1000000000);
	assert_true(out.ctime_ns >= before.ctime_ns);
	stored = attr_of(f->fs, ino);
	assert_memory_equal(&out, &stored, sizeof(out));
}

static void test_open_of_a_directory_is_eisdir(void **state)
{
	struct fixture *f = *state;
	struct fs_node *n;

	assert_int_equal(fs_ns_open(f->fs, ROOT, &n), -EISDIR);
	assert_int_equal(fs_ns_open(f->fs, make(f->fs, ROOT, "f", 0), &n), 0);
	fs_node_put(f->fs, n);
}

struct listing {
	char names[8][16];
	size_t count;
};

static int list_add(void *arg, const char *name, size_t namelen, uint64_t ino, uint8_t dtype)
{
	struct listing *l = arg;

	assert_true(l->count < 8 && namelen < 16);
	memcpy(l->names[l->count], name, namelen);
	l->names[l->count][namelen] = '\0';
	l->count++;
	return 0;
}

static void test_listing_gives_dot_dotdot_then_entries(void **state)
{
	struct fixture *f = *state;
	uint64_t d = make(f->fs, ROOT, "d", 1);
	struct listing l = {.count = 0};

	make(f->fs, d, "one", 0);
	assert_int_equal(fs_ns_dir_each(f->fs, d, list_add, &l), 0);
	assert_int_equal(l.count, 3);
	assert_string_equal(l.names[0], ".");
	assert_string_equal(l.names[1], "..");
	assert_string_equal(l.names[2], "one");
	assert_int_equal(fs_ns_dir_each(f->fs, make(f->fs, ROOT, "f", 0), list_add, &l), -ENOTDIR);
}

static void test_access_follows_owner_group_other_and_root(void **state)
{
	struct fixture *f = *state;
	uint64_t ino = make(f->fs, ROOT, "f", 0); /* 0644, uid 1000, gid 100 */
	struct fs_ns_who group = {.uid = 2000, .gid = 100}, other = {.uid = 2000, .gid = 200};

	assert_int_equal(fs_ns_access(f->fs, ino, &user, R_OK | W_OK), 0);
	assert_int_equal(fs_ns_access(f->fs, ino, &user, X_OK), -EACCES);
	assert_int_equal(fs_ns_access(f->fs, ino, &group, R_OK), 0);
	assert_int_equal(fs_ns_access(f->fs, ino, &group, W_OK), -EACCES);
	assert_int_equal(fs_ns_access(f->fs, ino, &other, R_OK), 0);
	assert_int_equal(fs_ns_access(f->fs, ino, &root_user, R_OK | W_OK), 0);
	assert_int_equal(fs_ns_access(f->fs, ino, &root_user, X_OK), -EACCES);
}

static void test_xattr_set_get_list_remove(void **state)
{
	struct fixture *f = *state;
	uint64_t ino = make(f->fs, ROOT, "f", 0);
	char buf[64];
	size_t len;

	assert_int_equal(fs_ns_xattr_set(f->fs, &user, ino, "user.k", "value", 5, 0), 0);
	assert_int_equal(fs_ns_xattr_get(f->fs, &user, ino, "user.k", NULL, 0, &len), 0);
	assert_int_equal(len, 5);
	assert_int_equal(fs_ns_xattr_get(f->fs, &user, ino, "user.k", buf, 4, &len), -ERANGE);
	assert_int_equal(fs_ns_xattr_get(f->fs, &user, ino, "user.k", buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "value", 5);
	assert_int_equal(fs_ns_xattr_list(f->fs, ino, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, sizeof("user.k"));
	assert_string_equal(buf, "user.k");
	assert_int_equal(fs_ns_xattr_remove(f->fs, &user, ino, "user.k"), 0);
	assert_int_equal(fs_ns_xattr_get(f->fs, &user, ino, "user.k", NULL, 0, &len), -ENODATA);
	assert_int_equal(fs_ns_xattr_remove(f->fs, &user, ino, "user.k"), -ENODATA);
}

static void test_xattr_create_and_replace_flags(void **state)
{
	struct fixture *f = *state;
	uint64_t ino = make(f->fs, ROOT, "f", 0);

	assert_int_equal(fs_ns_xattr_set(f->fs, &user, ino, "user.k", "v", 1, XATTR_REPLACE),
	                 -ENODATA);
	assert_int_equal(fs_ns_xattr_set(f->fs, &user, ino, "user.k", "v", 1, XATTR_CREATE), 0);
	assert_int_equal(fs_ns_xattr_set(f->fs, &user, ino, "user.k", "w", 1, XATTR_CREATE),
	                 -EEXIST);
	assert_int_equal(fs_ns_xattr_set(f->fs, &user, ino, "user.k", "w", 1, XATTR_REPLACE), 0);
}

static void test_xattr_namespaces_and_sizes(void **state)
{
	struct fixture *f = *state;
	uint64_t ino = make(f->fs, ROOT, "f", 0);
	static char big[65537];
	size_t len;

	assert_int_equal(fs_ns_xattr_set(f->fs, &user, ino, "system.posix_acl_access", "", 0, 0),
	                 -EOPNOTSUPP);
	assert_int_equal(fs_ns_xattr_set(f->fs, &user, ino, "other.k", "", 0, 0), -EOPNOTSUPP);
	assert_int_equal(fs_ns_xattr_set(f->fs, &user, ino, "trusted.k", "v", 1, 0), -EPERM);
	assert_int_equal(fs_ns_xattr_set(f->fs, &user, ino, "security.k", "v", 1, 0), -EPERM);
	assert_int_equal(fs_ns_xattr_set(f->fs, &root_user, ino, "trusted.k", "v", 1, 0), 0);
	assert_int_equal(fs_ns_xattr_get(f->fs, &user, ino, "trusted.k", NULL, 0, &len), -ENODATA);
	assert_int_equal(fs_ns_xattr_get(f->fs, &root_user, ino, "trusted.k", NULL, 0, &len), 0);
	assert_int_equal(fs_ns_xattr_get(f->fs, &user, ino, "system.k", NULL, 0, &len), -ENODATA);
	assert_int_equal(fs_ns_xattr_set(f->fs, &user, ino, "user.big", big, sizeof(big), 0),
	                 -E2BIG);
}

static void test_xattr_change_bumps_ctime(void **state)
{
	struct fixture *f = *state;
	uint64_t ino = make(f->fs, ROOT, "f", 0);
	struct fs_ns_setattr old = {.set = FS_NS_SET_CTIME, .ctime_ns = 1};
	struct idx_inode out;

	assert_int_equal(fs_ns_setattr(f->fs, ino, &old, &out), 0);
	assert_int_equal(out.ctime_ns, 1);
	assert_int_equal(fs_ns_xattr_set(f->fs, &user, ino, "user.k", "v", 1, 0), 0);
	assert_true(attr_of(f->fs, ino).ctime_ns > 1);
}

static void test_namespace_survives_reopen(void **state)
{
	struct fixture *f = *state;
	uint64_t d = make(f->fs, ROOT, "dir", 1), ino = make(f->fs, d, "file", 0);
	struct fs_node *n;

	assert_int_equal(fs_ns_link(f->fs, ino, ROOT, "alias", &n), 0);
	fs_node_put(f->fs, n);
	assert_int_equal(fs_close(f->fs), 0);
	open_archive(f);
	assert_int_equal(fs_ns_lookup(f->fs, d, "file", &n), 0);
	assert_int_equal(n->ino, ino);
	assert_int_equal(n->attr.nlink, 2);
	fs_node_put(f->fs, n);
	assert_int_equal(attr_of(f->fs, d).nlink, 2);
}

/* fs_file_accessed on another thread, which says when it has returned. */
struct accessed_job {
	struct fs *fs;
	struct fs_node *n;
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	int done;
};

static void *accessed_main(void *arg)
{
	struct accessed_job *j = arg;

	fs_file_accessed(j->fs, j->n);
	pthread_mutex_lock(&j->lock);
	j->done = 1;
	pthread_cond_signal(&j->done_cond);
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/* A read that leaves atime as it is (relatime, atime newer than mtime and ctime) returns while
 * another thread holds the node for reading, as a read-ahead worker does for a whole block
 * decode: a read's reply must not wait for the decodes of the blocks after it. */
/* Runs fs_file_accessed on another thread while this one holds the node's lock shared, as a
 * read-ahead worker does for a whole block decode; 1 if the call returned meanwhile. */
static int accessed_while_held_shared(struct fs *fs, struct fs_node *n)
{
	struct accessed_job j = {.fs = fs, .n = n, .done = 0};
	struct timespec until;
	pthread_t t;
	int returned;

	pthread_mutex_init(&j.lock, NULL);
	pthread_cond_init(&j.done_cond, NULL);
	pthread_rwlock_rdlock(&n->lock); /* a reader decoding */
	assert_int_equal(pthread_create(&t, NULL, accessed_main, &j), 0);
	/* The call takes microseconds; had it waited for the lock exclusively, it would return
	 * only once this test lets go, so any bound tells the two apart: 60 s leaves room for an
	 * ASan build on a loaded machine. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60;
	pthread_mutex_lock(&j.lock);
	while (!j.done && pthread_cond_timedwait(&j.done_cond, &j.lock, &until) == 0)
		;
	returned = j.done; /* before letting go, which would let a waiting call return */
	pthread_mutex_unlock(&j.lock);
	pthread_rwlock_unlock(&n->lock);
	pthread_join(t, NULL);
	pthread_mutex_destroy(&j.lock);
	pthread_cond_destroy(&j.done_cond);
	return returned;
}

/* The file's atime as the index holds it. */
static int64_t stored_atime(struct fs *fs, uint64_t ino)
{
	struct idx_txn *t;
	struct idx_inode a;

	assert_int_equal(idx_read_begin(fs->idx, &t), 0);
	assert_int_equal(idx_inode_get(t, ino, &a), 0);
	idx_read_end(t);
	return a.atime_ns;
}

static void test_read_leaving_atime_does_not_wait_for_readers(void **state)
{
	struct fixture *f = *state;
	uint64_t ino = make(f->fs, ROOT, "file", 0);
	struct fs_node *n;
	int64_t atime;

	assert_int_equal(fs_node_get(f->fs, ino, &n), 0);
	pthread_rwlock_wrlock(&n->lock);
	atime = n->attr.atime_ns = n->attr.mtime_ns + 1000000000; /* read a second after */
	pthread_rwlock_unlock(&n->lock);
	assert_true(accessed_while_held_shared(f->fs, n));
	assert_int_equal(fs_node_atime(n), atime);

	/* An atime not newer than mtime moves with the next read (relatime), and goes to the
	 * index with the next flush. */
	pthread_rwlock_wrlock(&n->lock);
	n->attr.atime_ns = n->attr.mtime_ns;
	n->attr_dirty = 0;
	pthread_rwlock_unlock(&n->lock);
	fs_file_accessed(f->fs, n);
	atime = fs_node_atime(n);
	assert_true(atime > n->attr.mtime_ns);
	assert_int_equal(fs_file_flush(f->fs, n), 0);
	assert_int_equal(stored_atime(f->fs, ino), atime);
	fs_node_put(f->fs, n);
}

/* With strictatime every read moves atime, and still returns while another thread holds the
 * node shared: it records the time without the lock held exclusively. The time shows at once
 * (getattr reads fs_node_atime) and goes to the index with the next flush; a setattr of atime
 * after it wins. */
static void test_strictatime_read_does_not_wait_for_readers(void **state)
{
	struct fixture *f = *state;
	uint64_t ino = make(f->fs, ROOT, "file", 0);
	struct fs_ns_setattr set = {.set = FS_NS_SET_ATIME, .atime_ns = 12345};
	struct idx_inode out;
	struct fs_node *n;
	int64_t atime;

	f->fs->opt.atime = FS_ATIME_STRICT;
	assert_int_equal(fs_node_get(f->fs, ino, &n), 0);
	atime = fs_node_atime(n);
	while (fs_now_ns() <= atime) /* a read moves atime only forward */
		sched_yield();
	assert_true(accessed_while_held_shared(f->fs, n));
	assert_true(fs_node_atime(n) > atime);
	atime = fs_node_atime(n);
	assert_int_equal(fs_file_flush(f->fs, n), 0);
	assert_int_equal(stored_atime(f->fs, ino), atime);

	fs_file_accessed(f->fs, n);
	assert_int_equal(fs_ns_setattr(f->fs, ino, &set, &out), 0);
	assert_int_equal(out.atime_ns, 12345);
	assert_int_equal(fs_node_atime(n), 12345);
	assert_int_equal(stored_atime(f->fs, ino), 12345);
	fs_node_put(f->fs, n);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_new_file_belongs_to_its_maker),
	    T(test_mkdir_adds_the_dotdot_link_to_the_parent),
	    T(test_setgid_directory_passes_its_group_and_setgid_on),
	    T(test_make_over_an_existing_name_is_eexist),
	    T(test_mknod_refuses_a_directory_mode),
	    T(test_bad_names_are_refused),
	    T(test_make_inside_a_file_is_enotdir),
	    T(test_make_inside_a_removed_directory_is_enoent),
	    T(test_unlink_of_a_directory_is_eisdir),
	    T(test_rmdir_of_a_file_is_enotdir),
	    T(test_rmdir_of_a_nonempty_directory_is_enotempty),
	    T(test_rmdir_gives_back_the_parents_link),
	    T(test_link_counts_names_and_unlink_drops_one),
	    T(test_link_of_a_directory_is_eperm),
	    T(test_link_over_an_existing_name_is_eexist),
	    T(test_rename_file_over_a_directory_is_eisdir),
	    T(test_rename_directory_over_a_file_is_enotdir),
	    T(test_rename_into_a_file_is_enotdir),
	    T(test_rename_of_a_directory_moves_its_dotdot_link),
	    T(test_rename_over_a_file_frees_the_old_one),
	    T(test_rename_over_a_nonempty_directory_is_enotempty),
	    T(test_rename_flags),
	    T(test_rename_exchange_swaps_and_moves_dotdot),
	    T(test_rename_between_two_names_of_one_file_does_nothing),
	    T(test_symlink_target_reads_back),
	    T(test_readlink_of_a_file_is_einval),
	    T(test_truncate_of_a_directory_is_eisdir_and_of_a_symlink_einval),
	    T(test_setattr_sets_what_it_is_asked_and_bumps_ctime),
	    T(test_open_of_a_directory_is_eisdir),
	    T(test_listing_gives_dot_dotdot_then_entries),
	    T(test_access_follows_owner_group_other_and_root),
	    T(test_xattr_set_get_list_remove),
	    T(test_xattr_create_and_replace_flags),
	    T(test_xattr_namespaces_and_sizes),
	    T(test_xattr_change_bumps_ctime),
	    T(test_namespace_survives_reopen),
	    T(test_read_leaving_atime_does_not_wait_for_readers),
	    T(test_strictatime_read_does_not_wait_for_readers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
