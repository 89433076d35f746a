#!/usr/bin/env bash
# A full disk is an error, never lost or damaged data.
#
# The archive lives on a 24 MiB tmpfs (unmounted on every path). With 3 MiB of HEP-like data
# fsync'ed first, 40 MiB of random bytes are written through the mount, fsync'ed every MiB, until
# a call fails. That call must fail with ENOSPC (write, fsync or close), the daemon must stay up,
# the early file must read back intact, and the filling file must be at least as long as was
# acknowledged and hold exactly the bytes written (no zeros, no garbage past the acknowledged
# part). While full: appends to the early file and new files fail with ENOSPC or succeed, and
# the early file is unchanged either way; mkdir fails cleanly or works; deleting the filling file
# works. After an unmount and a mount, all of that is still true. Then `boa gc` (when built) must
# not crash (exit status < 128, no sanitizer report), the archive must mount with keep intact, gc
# must succeed, and the deleted file's space must be free again (the daemon may have reclaimed
# it before gc did), so that a new 4 MiB file fits and reads back after a remount.
# Segments roll over at 2 MiB here (BOAFS_SEG_ROLL_BYTES, overridable), so that whole segments of
# the deleted file can be freed: with the default 256 MiB segments, gc on a full disk has to copy
# live records of the one shared segment first and fails with ENOSPC (see the report).
. "$(dirname "$0")/rlib.sh"
require_boafs
require_root
require_cmd python3

t=$(it_tmpdir)
back=$t/backing
a=$back/archive
m=$t/mnt
mkdir "$back" "$m"
export BOAFS_SEG_ROLL_BYTES=${BOAFS_SEG_ROLL_BYTES:-$((2 << 20))}

# The tmpfs goes after the daemons that hold files on it have stopped; then lib.sh's cleanup.
_fd_cleanup() {
	local rc=$? i
	set +e
	for ((i = ${#_it_mounts[@]} - 1; i >= 0; i--)); do
		unmount_boafs "${_it_mounts[i]}" || { [ "$rc" -ne 0 ] || rc=1; }
	done
	if is_mounted "$back"; then
		umount "$back" || umount -l "$back"
	fi
	(exit "$rc")
	_it_cleanup
}
trap _fd_cleanup EXIT
mount -t tmpfs -o size=24m,mode=0700 boafs-full-disk "$back" || skip "cannot mount a tmpfs"

BOA=$(boa_tool gc)

mount_boafs "$a" "$m" || fail "mount on the tmpfs"
make_data "$t/keep" $((3 << 20))
head -c $((40 << 20)) /dev/urandom >"$t/src"
cp "$t/keep" "$m/keep"
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$m/keep" ||
	fail "fsync of keep"
cmp "$t/keep" "$m/keep" || fail "keep differs right after writing it"

# fill SRC DST: writes SRC to DST in 256 KiB writes, fsync every MiB; prints
# "ACKED errno_name call" (errno_name "none" if everything fit).
fill() {
	python3 - "$1" "$2" <<'PY'
import errno, os, sys
src, dst = open(sys.argv[1], "rb").read(), sys.argv[2]
acked, off, err, call = 0, 0, None, None
fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
try:
    while off < len(src):
        off += os.write(fd, src[off:off + (256 << 10)])
        if off % (1 << 20) == 0:
            os.fsync(fd)
            acked = off
except OSError as e:
    err, call = e.errno, "write/fsync at %d" % off
try:
    os.close(fd)
except OSError as e:
    if err is None:
        err, call = e.errno, "close"
print(acked, errno.errorcode.get(err, str(err)) if err is not None else "none", call or "-")
PY
}
read -r acked err call <<<"$(fill "$t/src" "$m/fill")"
note "filling: $acked bytes acknowledged, then $err from $call; tmpfs: $(df -h --output=used,avail "$back" | tail -n 1)"
[ "$err" != none ] || fail "40 MiB fit into a 24 MiB tmpfs?"
full_avail=$(df --output=avail -B1 "$back" | tail -n 1)
assert_eq ENOSPC "$err" "error from $call on a full disk"
daemon_alive "$m" || fail "the daemon died when the disk filled up; log: $(cat "$(daemon_log "$m")")"
[ "$acked" -gt 0 ] || fail "not even 1 MiB of the filling file was acknowledged"

# check_files WHEN: keep intact; fill at least as long as acknowledged, and exactly the bytes
# written.
check_files() {
	local size
	cmp "$t/keep" "$m/keep" || fail "$1: keep differs"
	if [ ! -e "$m/fill" ]; then
		note "$1: keep intact"
		return 0
	fi
	size=$(stat -c %s "$m/fill")
	[ "$size" -ge "$acked" ] || fail "$1: fill is $size bytes, $acked were acknowledged"
	cmp -n "$size" "$t/src" "$m/fill" || fail "$1: fill holds bytes that were not written to it"
	note "$1: keep intact, fill $size bytes ($acked acknowledged) as written"
}
check_files "full"

# More writes while full: each either works or fails with ENOSPC; nothing changes keep.
python3 - "$m" <<'PY' || fail "calls on a full disk"
import errno, os, sys
m = sys.argv[1]
def attempt(what, fn):
    try:
        fn()
        print("# full disk: %s: ok" % what)
    except OSError as e:
        if e.errno != errno.ENOSPC:
            sys.exit("full disk: %s: %s (expected success or ENOSPC)" % (what, os.strerror(e.errno)))
        print("# full disk: %s: ENOSPC" % what)
def append_keep():
    fd = os.open(os.path.join(m, "keep"), os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, os.urandom(1 << 20))
        os.fsync(fd)
    finally:
        os.close(fd)
def new_file():
    fd = os.open(os.path.join(m, "new"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, os.urandom(2 << 20))
        os.fsync(fd)
    finally:
        os.close(fd)
attempt("append 1 MiB to keep", append_keep)
attempt("new 2 MiB file", new_file)
attempt("mkdir", lambda: os.mkdir(os.path.join(m, "dir")))
PY
daemon_alive "$m" || fail "the daemon died on writes to a full disk"
# keep's size may have grown if the append fitted; its first 3 MiB must be the original.
cmp -n $((3 << 20)) "$t/keep" "$m/keep" || fail "keep's original bytes changed after a failed append"
if [ "$(stat -c %s "$m/keep")" -ne $((3 << 20)) ]; then
	note "the append to keep fitted; truncating it back"
	truncate -s $((3 << 20)) "$m/keep" || fail "truncate keep on a full disk"
fi
rm -f "$m/new"
rmdir "$m/dir" 2>/dev/null || true

rm "$m/fill" || fail "deleting a file on a full disk failed"
[ ! -e "$m/fill" ] || fail "fill still there after rm"
daemon_alive "$m" || fail "the daemon died deleting on a full disk"
check_files "after deleting fill"

remount_boafs "$a" "$m"
check_files "after a remount"
unmount_boafs "$m" || fail "unmount"

note "free space: $full_avail bytes when full, $(df --output=avail -B1 "$back" | tail -n 1) after deleting fill and a remount"
if [ -z "$BOA" ]; then
	note "no boa gc in $BOAFS_BUILD: space of deleted files is not reclaimed here"
	exit 0
fi
before=$(df --output=avail -B1 "$back" | tail -n 1)
rc=0
"$BOA" gc "$a" >"$t/gc.out" 2>&1 || rc=$?
after=$(df --output=avail -B1 "$back" | tail -n 1)
no_sanitizer_report "$t/gc.out" "boa gc"
[ "$rc" -lt 128 ] || fail "boa gc on a full archive died of signal $((rc - 128)): $(cat "$t/gc.out")"
note "boa gc: exit $rc, free space $before -> $after bytes: $(tail -n 1 "$t/gc.out")"
mount_boafs "$a" "$m" || fail "mount after boa gc"
check_files "after boa gc"
if [ "$rc" -ne 0 ]; then
	fail "boa gc could not reclaim the deleted file's space on a full disk (exit $rc): $(cat "$t/gc.out")"
fi
# The daemon may have reclaimed the space already (background gc); by now it must be free.
[ "$after" -gt $((full_avail + (acked / 2))) ] ||
	fail "only $((after - full_avail)) bytes are free again after deleting a file of $acked acknowledged bytes and boa gc"
head -c $((4 << 20)) /dev/urandom >"$t/again"
cp "$t/again" "$m/again" || fail "writing 4 MiB after boa gc reclaimed space"
remount_boafs "$a" "$m"
cmp "$t/again" "$m/again" || fail "the file written after gc differs"
check_files "after gc and a new file"
unmount_boafs "$m" || fail "unmount"
