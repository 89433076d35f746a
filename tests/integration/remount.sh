#!/usr/bin/env bash
# Everything written survives an unmount and a mount: a tree with the HEP files, a doc subtree,
# every file type, hard links, xattrs, odd modes and owners, a sparse file, empty files and deep
# directories has the same manifest (contents, metadata, inode numbers) after a remount, a remount
# by the daemonizing form (no -f), and a read-only mount (-o ro), which refuses writes with EROFS.
# The archive is created as ARCHIVE/index and ARCHIVE/seg, mode 0700.
. "$(dirname "$0")/lib.sh"
require_boafs
require_cmd setfattr

t=$(it_tmpdir)
a=$t/archive
m=$t/mnt
mkdir "$m"
mount_boafs "$a" "$m"

[ -d "$a/index" ] && [ -d "$a/seg" ] || fail "archive layout: $(ls -la "$a")"
assert_eq 700 "$(stat -c %a "$a")" "mode of a new archive directory"

cp -a "$HEP_DATA" "$m/hep"
doc=$(find /usr/share/doc -mindepth 1 -maxdepth 1 -type d | sort | sed -n 1,40p)
mkdir "$m/doc"
# shellcheck disable=SC2086
cp -a $doc "$m/doc/"
mkdir -p "$m/deep/a/b/c/d/e/f/g/h"
printf 'deep' >"$m/deep/a/b/c/d/e/f/g/h/leaf"
: >"$m/empty"
mkdir "$m/empty-dir"
make_data "$m/multi-block" $((3 * 1024 * 1024 + 5))
ln "$m/multi-block" "$m/deep/hardlink"
ln -s ../hep/uproot-HZZ.root "$m/deep/symlink"
mkfifo "$m/fifo"
printf 'x' >"$m/modes"
[ "$(id -u)" -ne 0 ] || chown 1234:5678 "$m/modes"
chmod 4751 "$m/modes"
touch -d '2001-02-03 04:05:06.123456789' "$m/modes"
setfattr -n user.k -v v "$m/modes"
setfattr -n user.k -v dir "$m/deep"
truncate -s 40M "$m/sparse"
printf 'end' >>"$m/sparse"
names="$m/names"
mkdir "$names"
for n in ' leading space' 'trailing space ' 'new
line' 'ünïcødé' '$(not a command)' "$(head -c 255 /dev/zero | tr '\0' 'n')"; do
	printf '%s' "$n" >"$names/$n"
done

# The manifest with inode numbers: they are the archive's keys and must not change.
full_manifest() {
	manifest "$m"
	(cd "$m" && find . -printf '%p %i\n' | sort)
}
full_manifest >"$t/before"

remount_boafs "$a" "$m"
full_manifest >"$t/after1"
diff "$t/before" "$t/after1" || fail "differs after remount"

unmount_boafs "$m" || fail "unmount"
mount_boafs_daemon "$a" "$m" || fail "daemonizing mount"
full_manifest >"$t/after2"
diff "$t/before" "$t/after2" || fail "differs after the daemonizing mount"
unmount_boafs "$m" || fail "unmount of the daemonizing mount"

# Single-threaded, with other tuning options.
opts=threads=1,fuse_threads=2,zstd_level=19,cache_size=1M,recompress=off
mount_boafs "$a" "$m" -s -o "$opts"
full_manifest >"$t/after-s"
diff "$t/before" "$t/after-s" || fail "differs when mounted -s -o $opts"
unmount_boafs "$m" || fail "unmount of the -s mount"

mount_boafs "$a" "$m" -o ro
full_manifest >"$t/after3"
diff "$t/before" "$t/after3" || fail "differs on a read-only mount"
expect_errno EROFS "open('$m/new', 'w')"
expect_errno EROFS "open('$m/empty', 'w')"
expect_errno EROFS "os.mkdir('$m/newdir')"
expect_errno EROFS "os.unlink('$m/empty')"
expect_errno EROFS "os.setxattr('$m/empty', 'user.x', b'1')"
unmount_boafs "$m" || fail "unmount of the read-only mount"

# Nothing changed by the read-only mount, and block_size is fixed at creation: a different
# value on an existing archive is ignored or refused, never used on the old data.
if mount_boafs "$a" "$m" -o block_size=4K 2>/dev/null; then
	full_manifest >"$t/after4"
	diff "$t/before" "$t/after4" || fail "differs after mounting with another block_size"
fi
