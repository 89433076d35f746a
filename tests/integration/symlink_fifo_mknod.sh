#!/usr/bin/env bash
# Special files: symlinks (relative, absolute, dangling, 4095-byte target; lstat size is the
# target's length; followed by open), FIFOs from mkfifo and mknod (data passes between a writer and
# a reader), character devices from mknod (type and rdev kept), regular files from mknod(2), and
# all of them after a remount.
. "$(dirname "$0")/lib.sh"
require_boafs

t=$(it_tmpdir)
mkdir "$t/mnt"
mount_boafs "$t/archive" "$t/mnt"
m=$t/mnt

printf 'target content\n' >"$m/target"
mkdir "$m/dir"
ln -s target "$m/rel"
ln -s ../target "$m/dir/up"
ln -s "$m/target" "$m/abs"
ln -s does/not/exist "$m/dangling"
long=$(head -c 4095 /dev/zero | tr '\0' 'x')
ln -s "$long" "$m/long"

check_links() {
	assert_eq "symbolic link" "$(stat -c %F "$m/rel")" "type of rel"
	assert_eq target "$(readlink "$m/rel")" "readlink rel"
	assert_eq ../target "$(readlink "$m/dir/up")" "readlink dir/up"
	assert_eq "$m/target" "$(readlink "$m/abs")" "readlink abs"
	assert_eq does/not/exist "$(readlink "$m/dangling")" "readlink dangling"
	assert_eq "$long" "$(readlink "$m/long")" "readlink of a 4095-byte target"
	assert_eq 6 "$(stat -c %s "$m/rel")" "lstat size of rel"
	assert_eq 4095 "$(stat -c %s "$m/long")" "lstat size of long"
	assert_eq "target content" "$(cat "$m/rel")" "reading through rel"
	assert_eq "target content" "$(cat "$m/dir/up")" "reading through dir/up"
	assert_eq "target content" "$(cat "$m/abs")" "reading through abs"
	[ ! -e "$m/dangling" ] || fail "dangling symlink resolves"
}
check_links
expect_errno ENAMETOOLONG "os.symlink('y' * 4096, '$m/toolong')"
expect_errno EEXIST "os.symlink('x', '$m/rel')"

# FIFOs: made by mkfifo and by mknod; a writer and a reader meet through each.
mkfifo -m 0640 "$m/fifo"
mknod "$m/fifo2" p
for f in fifo fifo2; do
	assert_eq fifo "$(stat -c %F "$m/$f")" "type of $f"
	{ printf 'through %s\n' "$f" >"$m/$f"; } &
	got=$(timeout "$MOUNT_TIMEOUT" cat "$m/$f") || fail "reading $f"
	wait $! || fail "writing $f"
	assert_eq "through $f" "$got" "data through $f"
done
assert_eq 640 "$(stat -c %a "$m/fifo")" "mode of fifo"

# A character device node (mounts are nodev, so it is only stat'ed) and a regular file by mknod.
if [ "$(id -u)" -eq 0 ]; then
	mknod -m 0600 "$m/null" c 1 3
	assert_eq "character special file" "$(stat -c %F "$m/null")" "type of null"
	assert_eq "1 3" "$(stat -c '%Hr %Lr' "$m/null")" "rdev of null"
fi
python3 -c "import os, stat; os.mknod('$m/reg', stat.S_IFREG | 0o600)"
assert_eq "regular empty file" "$(stat -c %F "$m/reg")" "type of a mknod'ed regular file"
printf 'now written' >"$m/reg"
assert_eq "now written" "$(cat "$m/reg")" "content of a mknod'ed regular file"

manifest "$m" >"$t/before"
remount_boafs "$t/archive" "$m"
check_links
manifest "$m" >"$t/after"
diff "$t/before" "$t/after" || fail "special files differ after remount"
{ printf 'after remount\n' >"$m/fifo"; } &
got=$(timeout "$MOUNT_TIMEOUT" cat "$m/fifo") || fail "reading fifo after remount"
wait $! || fail "writing fifo after remount"
assert_eq "after remount" "$got" "fifo after remount"
