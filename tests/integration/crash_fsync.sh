#!/usr/bin/env bash
# A daemon killed with SIGKILL (a crash) loses nothing that was fsync'ed or closed before: after
# the dead mount is cleared and the archive mounted again, fsync'ed files (even ones still open at
# the crash) and files closed before the crash read back exactly; a file being written at the
# crash reads without error (any prefix of what was written); the archive takes new writes and
# survives a clean remount.
. "$(dirname "$0")/lib.sh"
require_boafs
[ -x "$PREAD_CHECK" ] || fail "pread_check not built: $PREAD_CHECK"

t=$(it_tmpdir)
mkdir "$t/mnt"
m=$t/mnt
a=$t/archive
mount_boafs "$a" "$m"
make_data "$t/closed" 3000000
make_data "$t/synced" 2000000
head -c 1500000 /dev/urandom >"$t/inflight"

cp "$t/closed" "$m/closed"
mkdir "$m/dir"
cp "$HEP_DATA/pylhe-testfile-pr29.lhe" "$m/dir/"
printf 'renamed' >"$m/before-rename"
mv "$m/before-rename" "$m/after-rename"
# Kept open across the crash: one fsync'ed, one half written and never synced.
exec {synced_fd}<>"$m/synced"
cat "$t/synced" >&"$synced_fd"
python3 -c "import os; os.fsync($synced_fd)"
exec {inflight_fd}<>"$m/inflight"
head -c 700000 "$t/inflight" >&"$inflight_fd"
sleep 0.5

crash_boafs "$m"
exec {synced_fd}>&- {inflight_fd}>&-
unmount_boafs "$m" || fail "clearing the dead mount"

mount_boafs "$a" "$m" || fail "the archive does not mount after a crash"
cmp "$t/closed" "$m/closed" || fail "a file closed before the crash"
cmp "$t/synced" "$m/synced" || fail "a file fsync'ed before the crash"
cmp "$HEP_DATA/pylhe-testfile-pr29.lhe" "$m/dir/pylhe-testfile-pr29.lhe" || fail "dir/ after the crash"
assert_eq renamed "$(cat "$m/after-rename")" "a renamed file after the crash"
[ ! -e "$m/before-rename" ] || fail "the old name of a renamed file is back"
# Never synced: no promise on how much is there, but what is there reads without error, is no
# longer than what was written, and each block is either the data written or zeros.
if [ -e "$m/inflight" ]; then
	python3 - "$m/inflight" "$t/inflight" <<'PY' || fail "the file being written at the crash"
import sys
got = open(sys.argv[1], "rb").read()
want = open(sys.argv[2], "rb").read()[:700000]
assert len(got) <= len(want), "grew to %d bytes" % len(got)
for off in range(0, len(got), 4096):
    g, w = got[off:off + 4096], want[off:off + 4096][:len(got) - off]
    assert g == w or g == bytes(len(g)), "bytes at %d are neither the data nor zeros" % off
print("# in-flight file after the crash: %d of 700000 bytes" % len(got))
PY
fi
cp "$t/closed" "$m/after-crash"
remount_boafs "$a" "$m"
cmp "$t/closed" "$m/after-crash" || fail "a file written after the crash recovery"
cmp "$t/synced" "$m/synced" || fail "the fsync'ed file after a clean remount"
