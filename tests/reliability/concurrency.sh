#!/usr/bin/env bash
# Concurrent writers get back exactly what they wrote, during the run and after a remount.
#
# 1. exerciser: EX_PROCS processes (default 4) for EX_SECONDS (default 15) doing random writes,
#    truncates, renames, unlinks, reads, mmap reads, fsyncs and reopens in their own subtrees, and
#    writes to interleaved 3001-byte stripes of one shared file (so they modify the same blocks at
#    once); every read is checked against each process's model. After a remount, `exerciser check`
#    compares the mount with the models.
# 2. fio: 4 jobs x FIO_SIZE (default 16 MiB) of random writes with mixed block sizes, checked with
#    crc32c headers (verify_fatal), then a random read/write mix with verification of what was
#    written, then, after a remount, a verify-only pass over the first job's data.
# The archive has 64 KiB blocks (EX_BLOCK_SIZE), so stripes and fio's 4k..128k blocks straddle
# block boundaries, and a 2 MiB block cache, so that reads decode records. Each process opens its
# files with O_DIRECT one time in six and drops their cached pages before half of its reads, so
# that reads reach the daemon rather than the kernel's page cache.
. "$(dirname "$0")/rlib.sh"
require_boafs
require_cmd fio

EX_PROCS=${EX_PROCS:-4}
EX_SECONDS=${EX_SECONDS:-15}
FIO_SIZE=${FIO_SIZE:-16M}
BLOCK_SIZE=${EX_BLOCK_SIZE:-64K}
X=$(rel_helper exerciser)

t=$(it_tmpdir)
a=$t/archive
m=$t/mnt
dump=$t/model
mkdir "$m" "$dump"
# A small block cache, so that reads decode stored records rather than hit the cache.
opts=(-o cache_size=2M)
mount_boafs "$a" "$m" -o block_size="$BLOCK_SIZE" "${opts[@]}" || fail "mount failed"

mkdir "$m/ex"
"$X" run "$m/ex" "$EX_PROCS" "$EX_SECONDS" "$SEED" "$dump" || fail "exerciser found a difference (SEED=$SEED)"
daemon_alive "$m" || fail "the daemon died during the exerciser run"

remount_boafs "$a" "$m" "${opts[@]}"
out=$("$X" check "$m/ex" "$EX_PROCS" "$dump") || {
	printf '%s\n' "$out" >&2
	fail "after a remount the files differ from what the exerciser wrote"
}
note "$out"

# fio with checksummed blocks. psync: plain pread/pwrite, as applications do.
fio_common=(--directory="$m/fio" --ioengine=psync --numjobs=4 --size="$FIO_SIZE"
	--bsrange=4k-128k --verify=crc32c --verify_fatal=1 --do_verify=1 --randrepeat=1
	--randseed="$SEED" --group_reporting --minimal --output-format=terse)
mkdir "$m/fio"
fio --name=randwrite --rw=randwrite --fsync=16 "${fio_common[@]}" >"$t/fio1.out" 2>&1 || {
	cat "$t/fio1.out" >&2
	fail "fio randwrite with verify=crc32c failed"
}
fio --name=randrw --rw=randrw --rwmixread=50 "${fio_common[@]}" >"$t/fio2.out" 2>&1 || {
	cat "$t/fio2.out" >&2
	fail "fio randrw with verify=crc32c failed"
}
daemon_alive "$m" || fail "the daemon died during fio"

# What the randwrite job wrote (its files were not touched by the randrw job, which has another
# name) must read back after a remount.
remount_boafs "$a" "$m" "${opts[@]}"
fio --name=randwrite --rw=randwrite "${fio_common[@]}" --verify_only >"$t/fio3.out" 2>&1 || {
	cat "$t/fio3.out" >&2
	fail "fio verify_only of the randwrite files after a remount failed"
}
note "fio: randwrite, randrw and verify-only after a remount passed (4 jobs x $FIO_SIZE each)"
unmount_boafs "$m" || fail "unmount failed"
