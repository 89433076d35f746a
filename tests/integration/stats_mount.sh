#!/usr/bin/env bash
# boa stats ARCHIVE|MOUNTPOINT|PATH: the mount shows its archive as its source; stats on the mount
# point gives the archive's figures, on a path inside the mount that subtree's (a file with two
# names in it counts once), with live, dead and index bytes and the pool's rate; boa wait and
# boa stats --wait return once the pool has tried every block (a condition: the meson timeout
# bounds the wait), quietly when stderr is not a terminal, and refuse at once an archive whose
# blocks nothing will recompress: not mounted, mounted read-only or with recompress=off.
. "$(dirname "$0")/lib.sh"
require_boafs
require_boa

t=$(it_tmpdir)
mkdir "$t/mnt"
m=$(realpath "$t/mnt")
a=$t/archive
lhe=$HEP_DATA/pylhe-testfile-pr29.lhe
root=$HEP_DATA/uproot-Zmumu-uncompressed.root
# Two blocks in the subtree, two outside it: little for the pool to do at level 1, even in an
# ASan build on a busy machine.
head -c 200000 "$lhe" >"$t/sub.dat"
head -c 140000 "$root" >"$t/top.dat"

json() { # FILE EXPR: prints a python expression of the JSON document `s`
	python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

mount_boafs "$a" "$m" -o recompress=off
mkdir "$m/sub"
cp "$t/sub.dat" "$m/sub/data"
ln "$m/sub/data" "$m/sub/again"
cp "$t/top.dat" "$m/top"
sync

# the source of the mount is the archive
src=$(awk -v m="$m" '$5 == m { for (i = 7; $i != "-"; i++); print $(i + 2) }' /proc/self/mountinfo)
assert_eq "$(realpath "$a")" "$src" "mount source (fsname)"

"$BOA" stats --json --sample 0.2 "$m" >"$t/all.json" || fail "boa stats MOUNTPOINT"
"$BOA" stats --json "$a" >"$t/by-archive.json" || fail "boa stats ARCHIVE (mounted)"
assert_eq "$m" "$(json "$t/by-archive.json" 's["mountpoint"]')" "the mount of an archive named by its directory"
assert_eq "$(realpath "$a")" "$(json "$t/all.json" 's["archive"]')" "archive of the mount point"
assert_eq "$m" "$(json "$t/all.json" 's["mountpoint"]')" "mountpoint"
assert_eq "None" "$(json "$t/all.json" 's["path"]')" "path of the whole archive"
assert_eq 2 "$(json "$t/all.json" 's["files"]')" "files in the archive"
assert_eq 4 "$(json "$t/all.json" 's["pending_blocks"]')" "blocks waiting (recompress=off)"
assert_eq 340000 "$(json "$t/all.json" 's["pending_bytes"]')" "bytes waiting"
# recompress=off: stats says the pool is off and does not watch it; the rate is 0, the ETA unknown
assert_eq "mounted with recompress=off" "$(json "$t/all.json" 's["pool_off"]')" "pool_off"
assert_eq "None" "$(json "$t/all.json" 's["pool"]["eta_s"]')" "ETA with the pool off"
json "$t/all.json" 's["pool"]["sample_s"] == 0 and s["pool"]["rate_blocks_s"] == 0' | grep -q True ||
	fail "pool sample: $(json "$t/all.json" 's["pool"]')"
"$BOA" stats "$m" >"$t/off.txt" || fail "boa stats MOUNTPOINT (text)"
grep -q "(mounted with recompress=off: nothing recompresses them)" "$t/off.txt" ||
	fail "text does not say the pool is off: $(cat "$t/off.txt")"
# live bytes are what the extents use; nothing is dead yet; the index has pages
json "$t/all.json" 's["space"]["live_bytes"] == s["stored_bytes"] and s["space"]["dead_bytes"] == 0 and s["space"]["index_bytes"] > 0 and s["space"]["segment_bytes"] >= s["space"]["live_bytes"]' |
	grep -q True || fail "space: $(json "$t/all.json" 's["space"]'), stored $(json "$t/all.json" 's["stored_bytes"]')"

"$BOA" stats --json --sample 0 "$m/sub" >"$t/sub.json" || fail "boa stats PATH"
assert_eq "$m/sub" "$(json "$t/sub.json" 's["path"]')" "path"
assert_eq 1 "$(json "$t/sub.json" 's["files"]')" "files in the subtree (two names, one file)"
assert_eq 200000 "$(json "$t/sub.json" 's["logical_bytes"]')" "logical bytes of the subtree"
assert_eq 2 "$(json "$t/sub.json" 's["blocks"]')" "blocks of the subtree"
assert_eq 200000 "$(json "$t/sub.json" 's["file_bytes"]')" "file bytes of the subtree"
"$BOA" stats --json --sample 0 "$m/top" >"$t/top.json" || fail "boa stats FILE"
assert_eq 140000 "$(json "$t/top.json" 's["logical_bytes"]')" "logical bytes of one file"
"$BOA" stats --sample 0 "$m/sub" >"$t/sub.txt" || fail "boa stats PATH (text)"
grep -q "^$m/sub (in archive $(realpath "$a")): 1 files" "$t/sub.txt" || fail "text: $(head -3 "$t/sub.txt")"
grep -q "^archive on disk: live " "$t/sub.txt" || fail "text lacks live/dead/index: $(cat "$t/sub.txt")"
if "$BOA" stats "$t" >/dev/null 2>"$t/err"; then fail "boa stats of a directory that is neither"; fi

# recompress=off: nothing will recompress the waiting blocks, so boa wait and stats --wait say
# so at once and exit 1 instead of waiting forever (timeout: a hang guard sized for an ASan
# build on a busy machine, not a budget).
for w in "wait $m" "wait $m/sub" "stats --wait $a"; do
	rc=0
	timeout -k 5 120 "$BOA" $w >/dev/null 2>"$t/err" || rc=$?
	[ "$rc" -eq 1 ] || fail "boa $w with recompress=off: exit status $rc: $(cat "$t/err")"
	grep -q "recompress=off: nothing will recompress" "$t/err" || fail "boa $w message: $(cat "$t/err")"
done

# Unmounted, nothing recompresses the waiting blocks: --wait says so instead of waiting forever.
unmount_boafs "$m"
if "$BOA" stats --wait "$a" >/dev/null 2>"$t/err"; then fail "--wait on an unmounted archive"; fi
grep -q "not mounted" "$t/err" || fail "--wait message: $(cat "$t/err")"

# Nor does a read-only mount's pool.
mount_boafs "$a" "$m" -o ro
rc=0
timeout -k 5 120 "$BOA" wait "$m" >/dev/null 2>"$t/err" || rc=$?
[ "$rc" -eq 1 ] || fail "boa wait on a read-only mount: exit status $rc: $(cat "$t/err")"
grep -q "mounted read-only" "$t/err" || fail "boa wait message (ro): $(cat "$t/err")"
unmount_boafs "$m"

# On a terminal, boa wait draws a progress bar with an ETA while blocks wait (none is cold for
# a day here: the wait would not end, so it is stopped once the bar is there: a condition).
if command -v script >/dev/null; then
	mount_boafs "$a" "$m" -o recompress=cold:86400
	script -qfec "exec $BOA wait $m" /dev/null >"$t/tty.out" 2>&1 </dev/null &
	tty_pid=$!
	wait_for 300 grep -q 'blocks left.*ETA' "$t/tty.out" || fail "no progress bar on a terminal: $(cat "$t/tty.out")"
	kill "$tty_pid" 2>/dev/null || true
	wait "$tty_pid" 2>/dev/null || true
	unmount_boafs "$m"
fi

# The pool at work: boa wait on the subtree, then stats --wait on the whole archive.
mount_boafs "$a" "$m" -o recompress=now,boa_level=1,threads=1
unnice_pool "$m"
"$BOA" wait "$m/sub" >"$t/wait.out" 2>"$t/wait.err" || fail "boa wait PATH: $(cat "$t/wait.err")"
assert_eq "" "$(cat "$t/wait.out" "$t/wait.err")" "boa wait output when not on a terminal"
"$BOA" stats --json --sample 0 "$m/sub" >"$t/sub2.json"
assert_eq 0 "$(json "$t/sub2.json" 's["pending_blocks"]')" "subtree blocks waiting after boa wait"
unnice_pool "$m"
"$BOA" stats --wait --json "$a" >"$t/all2.json" 2>"$t/wait.err" || fail "stats --wait: $(cat "$t/wait.err")"
assert_eq "" "$(cat "$t/wait.err")" "stats --wait stderr when not on a terminal"
assert_eq 0 "$(json "$t/all2.json" 's["pending_blocks"]')" "blocks waiting after stats --wait"
assert_eq True "$(json "$t/all2.json" 's["pool"]["eta_s"] == 0')" "ETA once idle"
assert_eq "None" "$(json "$t/all2.json" 's["pool_off"]')" "pool_off with recompress=now"
cmp "$t/sub.dat" "$m/sub/data" || fail "subtree data after recompression"
cmp "$t/top.dat" "$m/top" || fail "top data after recompression"
unmount_boafs "$m"
