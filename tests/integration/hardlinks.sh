#!/usr/bin/env bash
# Hard links: one inode under several names (same st_ino, st_nlink counts them), a write through
# one name is read through another, unlinking one name keeps the data, the last unlink removes it,
# and link counts survive a remount. Directories cannot be hard-linked.
. "$(dirname "$0")/lib.sh"
require_boafs

t=$(it_tmpdir)
mkdir "$t/mnt"
mount_boafs "$t/archive" "$t/mnt"
m=$t/mnt

make_data "$t/data" 300000
cp "$t/data" "$m/a"
mkdir "$m/sub"
ln "$m/a" "$m/b"
ln "$m/a" "$m/sub/c"
assert_eq 3 "$(stat -c %h "$m/a")" "nlink of a"
assert_eq 3 "$(stat -c %h "$m/sub/c")" "nlink of sub/c"
assert_eq "$(stat -c %i "$m/a")" "$(stat -c %i "$m/b")" "inode of b"
assert_eq "$(stat -c %i "$m/a")" "$(stat -c %i "$m/sub/c")" "inode of sub/c"

# Write through b (in place and appending), read through a and sub/c.
printf 'written through b' | dd of="$m/b" bs=1 seek=140000 conv=notrunc status=none
printf 'appended' >>"$m/b"
cp "$t/data" "$t/want"
printf 'written through b' | dd of="$t/want" bs=1 seek=140000 conv=notrunc status=none
printf 'appended' >>"$t/want"
cmp "$t/want" "$m/a" || fail "write through b not seen through a"
cmp "$t/want" "$m/sub/c" || fail "write through b not seen through sub/c"
# A metadata change through one name shows through the others.
chmod 0640 "$m/sub/c"
assert_eq 640 "$(stat -c %a "$m/a")" "mode through a after chmod of sub/c"

rm "$m/a"
assert_eq 2 "$(stat -c %h "$m/b")" "nlink after unlinking a"
cmp "$t/want" "$m/b" || fail "b changed when a was unlinked"
[ ! -e "$m/a" ] || fail "a still exists"

ln "$m/b" "$m/d"
remount_boafs "$t/archive" "$m"
assert_eq 3 "$(stat -c %h "$m/b")" "nlink of b after remount"
assert_eq "$(stat -c %i "$m/b")" "$(stat -c %i "$m/sub/c")" "inode after remount"
cmp "$t/want" "$m/d" || fail "d after remount"

rm "$m/b" "$m/d"
assert_eq 1 "$(stat -c %h "$m/sub/c")" "nlink of the last name"
cmp "$t/want" "$m/sub/c" || fail "last name's content"
rm "$m/sub/c"
[ -z "$(ls -A "$m/sub")" ] || fail "sub not empty: $(ls -A "$m/sub")"

expect_errno EPERM "os.link('$m/sub', '$m/sub-link')"
expect_errno EEXIST "open('$m/x','w').close(); os.link('$m/x', '$m/x')"
