#!/usr/bin/env bash
# What fsync acknowledged survives a crash of the daemon, and the namespace stays consistent.
#
# ITER times (default 20; crash_long.sh: 500): mount the archive; check everything the earlier
# runs acknowledged (fsync_writer verify: every acknowledged byte there and unchanged, no byte of
# any writer file other data than was written; fsync_writer dirverify: each directory-operation
# tree is its last acknowledged state or that plus the operation in flight; fsync_writer walk:
# every entry stat()s and every file reads to its size without EIO); then start 3 data writers
# (3 files each, appends of 1 byte..400 KiB, same-byte rewrites, close/reopen, fsync/fdatasync at
# random points; incompressible, repetitive and CSV-like content), a slow one (300 KB/s, whose
# blocks live long enough to be recompressed) and one directory-operation writer (create+fsync,
# rename over files, unlink, mkdir, rmdir, directory rename, each followed by fsync of the
# directories), and kill -9 the
# daemon after a random 0.2..1.2 s, detach the dead mount with fusermount3 -uz, check the archive
# with `boa fsck` (when built), and go round. Every other round mounts with -o recompress=now, so
# that kills also land while BOA-recompressed extents replace the fast ones.
# The last round ends with a clean unmount after the checks.
#
# Environment: ITER (rounds), SEED, CRASH_BLOCK_SIZE (block size of the new archive, default 16K
# so that writes span several blocks), CRASH_CAP (bytes after which a writer retires a file).
. "$(dirname "$0")/rlib.sh"
require_boafs
require_root

ITER=${ITER:-20}
BOA=$(boa_tool fsck)
[ -n "$BOA" ] || note "no boa fsck in $BOAFS_BUILD: the archive is not checked offline"
BLOCK_SIZE=${CRASH_BLOCK_SIZE:-16K}
CAP=${CRASH_CAP:-2097152}
WRITERS=3
FILES_PER_WRITER=3
W=$(rel_helper fsync_writer)

t=$(it_tmpdir)
a=$t/archive
m=$t/mnt
logs=$t/logs
mkdir "$m" "$logs"

verified_bytes=0
kills=0
ops_dirs=()

# check_all ROUND: the checks that follow every mount.
crash_failed() { fail "round $1: $2 (archive kept in $a)"; }
check_all() { check_acknowledged "$1" crash_failed; }

# fsck_offline WHEN: boa fsck (read-only) finds nothing wrong with the unmounted archive.
fsck_offline() {
	local out rc=0
	[ -n "$BOA" ] || return 0
	out=$("$BOA" fsck "$a" 2>&1) || rc=$?
	if [ "$rc" -ne 0 ]; then
		printf '%s\n' "$out" >&2
		fail "$1: boa fsck exited $rc on the archive (kept in $a)"
	fi
	note "$1: $(printf '%s\n' "$out" | tail -n 1)"
}

for ((round = 1; round <= ITER; round++)); do
	# Every other round recompresses blocks with BOA as soon as they are written, so that the
	# kill also lands while recompressed extents replace the fast ones.
	opts=()
	[ $((round % 2)) -eq 0 ] && opts=(-o recompress=now -o threads=1 -o boa_level=1)
	if [ "$round" -eq 1 ]; then
		mount_boafs "$a" "$m" -o block_size="$BLOCK_SIZE" "${opts[@]}" || fail "round 1: mount failed"
	else
		mount_boafs "$a" "$m" "${opts[@]}" || fail "round $round: mount after a crash failed"
	fi
	check_all "$round"
	# A verified tree of directory operations is removed (rm -rf of a tree after a crash is a
	# test of its own); the next round makes a new one.
	for d in ${ops_dirs[@]+"${ops_dirs[@]}"}; do
		rm -rf -- "${m:?}/$d" || fail "round $round: rm -rf $d after a crash failed"
	done
	ops_dirs=()
	mkdir -p "$m/data"

	start_writers "$round"

	if [ "$round" -eq "$ITER" ]; then
		sleep 1
		# Last round: no crash, the writers are stopped and the archive unmounted cleanly.
		for p in "${pids[@]}"; do
			kill -TERM "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		done
		check_all "final"
		unmount_boafs "$m" || fail "final unmount failed"
		mount_boafs "$a" "$m" || fail "mount after the clean unmount failed"
		check_all "after a clean remount"
		unmount_boafs "$m" || fail "final unmount failed"
		fsck_offline "after a clean unmount"
		break
	fi

	crash_during_writes "$round"
	kills=$((kills + 1))
	fsck_offline "round $round, after the crash"
done

if [ -n "$BOA" ]; then
	note "codecs of the blocks at the end: $("$BOA" stats "$a" | awk '$1 ~ /^(raw|zstd|boa)$/ { printf "%s %s blocks; ", $1, $2 }')"
fi
note "$kills crashes (kill -9), $ITER mounts checked, $verified_bytes acknowledged bytes verified in all"
