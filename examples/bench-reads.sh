#!/usr/bin/env bash
# bench-reads.sh — what reading BOA-recompressed data through a boafs mount costs, in one run:
#   1. sequential read of a recompressed file (cold: remounted, page cache dropped when root),
#      with -o threads=1 and with -o threads=<all CPUs> read-ahead workers;
#   2. p50/p99 latency of random 4 KiB O_DIRECT reads of cold BOA blocks (daemon remounted, so
#      its block cache is empty; every read lands in a block not read before);
#   3. unmount time while the recompression pool is busy encoding at the frozen level.
# Not part of the test suite: it measures, it does not check.
#
# usage: examples/bench-reads.sh (examples/bench-speed.sh runs it after its codec table)
#   BOAFS_BUILD=DIR   build directory (default ./build, else the first ./build*/)
#   BENCH_DIR=DIR     where the temp dir goes (default /var/tmp)
#   BENCH_SIZE=64M    size of the file (the HEP samples in tests/data/hep, cut and mixed)
#   BENCH_LEVEL=2     BOA level the file is recompressed at (2: the cold tier's default)
#   BENCH_BUSY_LEVEL=7  level of the encodes running during the unmount measurement (7: the
#                     frozen tier's default, the slowest encodes the pool runs by default)
#   BENCH_READS=200   random reads (at most one per block)
# Recompressing BENCH_SIZE at BENCH_LEVEL takes a while (BOA encodes at well under 1 MB/s per
# core today); the script shows the pool's progress.
set -euo pipefail

size=${BENCH_SIZE:-64M}
level=${BENCH_LEVEL:-2}
busy_level=${BENCH_BUSY_LEVEL:-7}
nreads=${BENCH_READS:-200}
ncpu=$(nproc)

# The build, the temp dir, the mount helpers and the EXIT/INT/TERM trap that unmounts and cleans up.
# shellcheck source=lib-bench.sh
. "$(dirname "$0")/lib-bench.sh"
BOA=$BOAFS_BUILD/boa
bytes=$(numfmt --from=iec "$size")

t=$(it_tmpdir)
mkdir "$t/mnt"
a=$t/archive
m=$t/mnt

stats() { "$BOA" stats --json "$a" | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
cold_mount() { # cold_mount ARGS...: remount, daemon cache empty, page cache dropped (root)
	is_mounted "$m" && { unmount_boafs "$m" || fail "unmount failed"; }
	drop_page_cache
	mount_boafs "$a" "$m" "$@" || fail "mount failed"
}

echo "making a ${size} file from the HEP samples and recompressing it at BOA level $level ..." >&2
make_data "$t/ref" "$bytes"
mount_boafs "$a" "$m" -o "recompress=now,boa_level=$level,frozen=off,threads=$ncpu"
cp "$t/ref" "$m/data"
start=$(date +%s)
while :; do
	p=$(stats 'd["pending_blocks"]')
	printf '\r  %s blocks waiting, %ds ' "$p" $(($(date +%s) - start)) >&2
	[ "$p" -eq 0 ] && break
	sleep 2
done
echo >&2
blocks=$(stats 'd["codecs"]["boa"]["blocks"]')
stored=$(stats 'd["stored_bytes"]')

# 1. sequential read, 1 and all read-ahead workers
# seq_read THREADS: sets mbps to the MB/s of a cold cat of the file. Not run in $(...): the
# mounts it makes must belong to this shell, which unmounts them.
# Also sets busy to the cores spent decoding on average during the cat (the daemon's BOA decode
# CPU seconds, which it stores at unmount, over the wall seconds; the ideal is THREADS, or more
# for THREADS=1, where the FUSE thread decodes too) and core to the daemon's decode MB/s per
# core during it (the cache holds the file, so cmp decodes nothing more).
seq_read() {
	cold_mount -o "recompress=off,threads=$1"
	local s e c0 c1
	c0=$(stats 'd["codecs"]["boa"]["cpu_decode_s"]')
	s=$(date +%s%N)
	cat "$m/data" >/dev/null
	e=$(date +%s%N)
	cmp -s "$t/ref" "$m/data" || fail "the file read back differs"
	unmount_boafs "$m" || fail "unmount failed"
	c1=$(stats 'd["codecs"]["boa"]["cpu_decode_s"]')
	read -r mbps busy core < <(python3 -c "import sys
s, e, c0, c1, n = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), $bytes
w, c = (e - s) / 1e9, c1 - c0
print('%.2f %.2f %.3f' % (n / 1e6 / w, c / w, n / 1e6 / c if c > 0 else 0))" "$s" "$e" "$c0" "$c1")
}
echo "sequential reads ..." >&2
seq_read 1
seq1=$mbps busy1=$busy core1=$core
seq_read "$ncpu"
seqn=$mbps busyn=$busy coren=$core

# 2. random 4 KiB reads of cold BOA blocks. Also the daemon's BOA decode CPU per read (stored at
# unmount, as above): the mean latency less that is what the path around the decode costs
# (lookup, segment read, FUSE, waits), where the spread from p50 to p99 is mostly that of the
# blocks' own decode times.
echo "random 4 KiB reads of cold blocks ..." >&2
rc0=$(stats 'd["codecs"]["boa"]["cpu_decode_s"]')
cold_mount -o recompress=off
lat=$(python3 - "$m/data" "$bytes" "$nreads" <<'PY'
import mmap, os, random, sys, time
path, size, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bs = 131072
blocks = list(range(size // bs))
random.Random(1).shuffle(blocks)
fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
ms = []
for b in blocks[:n]:
    off = b * bs + random.Random(b).randrange(0, bs // 4096) * 4096
    t0 = time.perf_counter()
    os.preadv(fd, [buf], off)
    ms.append((time.perf_counter() - t0) * 1e3)
os.close(fd)
ms.sort()
q = lambda p: ms[min(len(ms) - 1, int(p * len(ms)))]
print("%.1f %.1f %d %.1f" % (q(0.50), q(0.99), len(ms), sum(ms) / len(ms)))
PY
)
read -r p50 p99 nlat mean <<<"$lat"
unmount_boafs "$m"
rc1=$(stats 'd["codecs"]["boa"]["cpu_decode_s"]')
dec_ms=$(python3 -c "import sys; print('%.1f' % ((float(sys.argv[2]) - float(sys.argv[1])) * 1e3 / int(sys.argv[3])))" "$rc0" "$rc1" "$nlat")

# 3. unmount while the pool encodes (the file back to zstd first: a copy in a fresh archive)
echo "unmount with the pool busy (level $busy_level) ..." >&2
a2=$t/archive2
mount_boafs "$a2" "$m" -o recompress=off
cp "$t/ref" "$m/data"
unmount_boafs "$m"
mount_boafs "$a2" "$m" -o "recompress=now,boa_level=$busy_level,frozen=off,threads=$ncpu"
pid=${_it_pid[$(realpath -m -- "$m")]}
busy_ticks() {
	local sum=0 f
	local -a s
	for f in /proc/"$pid"/task/*/stat; do
		# nice (field 19) 19: a recompression worker; utime + stime (fields 14, 15)
		read -r -a s < <(sed 's/.*) //' "$f" 2>/dev/null) || continue
		[ "${s[16]:-0}" = 19 ] && sum=$((sum + s[11] + s[12]))
	done
	echo "$sum"
}
# shellcheck disable=SC2016 # expanded by eval, on every try
wait_for 600 eval '[ "$(busy_ticks)" -ge $(getconf CLK_TCK) ]' || fail "the pool never got busy"
u0=$(date +%s%N)
fusermount3 -u -- "$m"
while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
u1=$(date +%s%N)
umount_ms=$(((u1 - u0) / 1000000))
unmount_boafs "$m" || true

echo
echo "boafs read benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $ncpu CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $("$BOAFS_BIN" -V | sed -n 1p)"
echo "file: $size of HEP samples, BOA level $level: $blocks BOA blocks, $stored bytes stored"
printf '%-58s %s\n' "sequential read, cold, -o threads=1 (MB/s)" "$seq1"
printf '%-58s %s / %s\n' "  cores decoding on average / decode MB/s per core" "$busy1" "$core1"
printf '%-58s %s\n' "sequential read, cold, -o threads=$ncpu (MB/s)" "$seqn"
printf '%-58s %s / %s\n' "  cores decoding on average / decode MB/s per core" "$busyn" "$coren"
printf '%-58s %s / %s\n' "random 4 KiB O_DIRECT read, cold block, p50 / p99 (ms)" "$p50" "$p99"
printf '%-58s %s\n' "  (reads measured)" "$nlat"
printf '%-58s %s / %s\n' "  mean latency / the daemon's decode CPU per read (ms)" "$mean" "$dec_ms"
printf '%-58s %s\n' "unmount with the pool encoding at level $busy_level (ms)" "$umount_ms"
