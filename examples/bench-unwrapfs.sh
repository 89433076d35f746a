#!/usr/bin/env bash
# Already-compressed HEP files in a real boafs mount (issue 10), side by side in one run:
#   bytes      as they are
#   xz -9e     the whole file, xz -9e
#   zstd -19   the whole file, zstd -19
#   before     what boafs stores when they are copied in (st_blocks)
#   after      what it stores once the background pool has unwrapped them (-o unwrap=MODE),
#              and the coder it chose, with the CPU seconds each transform took
# then totals for the zlib/LZ4 ROOT files (the goal: >= 1.6x) and for all files, whole-file read
# throughput of the unwrapped files from a fresh mount (every block regenerated), and the
# p50/p99 latency of random 4 KiB O_DIRECT reads (first reads regenerate, later ones hit the
# cache). Every file is compared with the original after the transform.
#
# usage: examples/bench-unwrapfs.sh [FILES...]   (default: tests/data/rootc/*)
# Environment: UNWRAP (auto|zstd|boa, default auto), BLOCK_SIZE (default 128K), THREADS
# (default 2), BOA_LEVEL (default: boafs's). Needs a build in build/, FUSE, xz, zstd, python3.
# Not part of the test suite: BOA codes at a few hundred KB/s per core.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$src/build}
boafs=$build/fs/boafs
[ -x "$boafs" ] || { echo "bench-unwrapfs: $boafs missing: meson setup build && ninja -C build" >&2; exit 1; }
for p in xz zstd python3 fusermount3; do
	command -v "$p" >/dev/null || { echo "bench-unwrapfs: $p missing" >&2; exit 1; }
done
[ $# -gt 0 ] || set -- "$src"/tests/data/rootc/*.root "$src"/tests/data/rootc/*.gz
unwrap=${UNWRAP:-auto}
opts=recompress=now,unwrap=$unwrap,threads=${THREADS:-2}${BOA_LEVEL:+,boa_level=$BOA_LEVEL}
tmp=$(mktemp -d)
m=$tmp/mnt
mkdir "$m"
pid=
cleanup() {
	fusermount3 -u "$m" 2>/dev/null || true
	[ -z "$pid" ] || wait "$pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
mount_() { # LOG OPTS
	"$boafs" "$tmp/archive" "$m" -f -o "$2" 2>"$1" &
	pid=$!
	for ((i = 0; i < 300; i++)); do
		grep -qs " $m " /proc/self/mounts && return 0
		sleep 0.1
	done
	echo "bench-unwrapfs: mount failed:" >&2
	cat "$1" >&2
	exit 1
}
umount_() {
	fusermount3 -u "$m"
	wait "$pid" || true
	pid=
}
stored() { echo $(($(stat -c %b "$1") * 512)); }

mount_ "$tmp/log0" "recompress=off,block_size=${BLOCK_SIZE:-128K}"
for f in "$@"; do cp "$f" "$m/"; done
declare -A before after ino
for f in "$@"; do
	n=${f##*/}
	before[$n]=$(stored "$m/$n")
	ino[$n]=$(stat -c %i "$m/$n")
done
umount_
mount_ "$tmp/log1" "$opts"
# Every container file gets one line: unwrapped, or stored as it is (and why).
for ((i = 0; i < ${WAIT_S:-3600}; i++)); do
	[ "$(grep -c ': unwrapped \|: stored as it is$' "$tmp/log1" || true)" -ge $# ] && break
	sleep 1
done
umount_
mount_ "$tmp/log2" recompress=off
printf '%-48s %10s %10s %10s %10s %10s  %s\n' file bytes "xz -9e" "zstd -19" before after \
	"coder, CPU s"
declare -A tot
for f in "$@"; do
	n=${f##*/}
	cmp "$f" "$m/$n" || { echo "bench-unwrapfs: $n differs after the transform" >&2; exit 1; }
	b=$(stat -c %s "$f")
	x=$(xz -9e -c "$f" | wc -c)
	z=$(zstd -19 -c "$f" | wc -c)
	a=$(stored "$m/$n")
	line=$(grep "inode ${ino[$n]}: unwrapped " "$tmp/log1" || true)
	how=$(printf '%s' "$line" | sed -n 's/.* with \(.*\), \([0-9.]*\) CPU s$/\1, \2/p')
	printf '%-48s %10d %10d %10d %10d %10d  %s\n' "$n" "$b" "$x" "$z" "${before[$n]}" "$a" \
		"${how:-stored as it is}"
	# The files whose baskets are zlib or LZ4 (the others: LZMA, ZSTD, gzip).
	for k in all $(case $n in *zlib*.root | *lz4*.root | *issue*.root | *mc10*.root) echo zl ;; esac); do
		tot[$k.b]=$((${tot[$k.b]:-0} + b))
		tot[$k.x]=$((${tot[$k.x]:-0} + x))
		tot[$k.z]=$((${tot[$k.z]:-0} + z))
		tot[$k.before]=$((${tot[$k.before]:-0} + ${before[$n]}))
		tot[$k.after]=$((${tot[$k.after]:-0} + a))
	done
done
for k in zl all; do
	[ -n "${tot[$k.b]:-}" ] || continue
	python3 - "$k" "${tot[$k.b]}" "${tot[$k.x]}" "${tot[$k.z]}" "${tot[$k.before]}" \
		"${tot[$k.after]}" <<'PY'
import sys
k, b, *rest = sys.argv[1], *map(int, sys.argv[2:])
label = "zlib/LZ4 ROOT files" if k == "zl" else "all files"
print("%-48s %10d %s" % (label, b, " ".join("%10d" % r for r in rest)))
print("%-48s %10s %s" % ("  ratio", "1.000x", " ".join("%9.3fx" % (b / r) for r in rest)))
PY
done
umount_
# Reads from a fresh mount: nothing cached, every block regenerated.
mount_ "$tmp/log3" recompress=off
python3 - "$m" "$@" <<'PY'
import mmap, os, random, sys, time
m, names = sys.argv[1], [os.path.basename(p) for p in sys.argv[2:]]
t, total = time.time(), 0
for n in names:
    with open(os.path.join(m, n), "rb") as f:
        total += len(f.read())
dt = time.time() - t
print("whole-file reads, fresh mount: %d bytes in %.2f s = %.2f MB/s" % (total, dt, total / dt / 1e6))
rng, lat = random.Random(1), []
fds = [(os.open(os.path.join(m, n), os.O_RDONLY | os.O_DIRECT), os.path.getsize(os.path.join(m, n))) for n in names]
buf = mmap.mmap(-1, 4096)
for _ in range(2000):
    fd, size = fds[rng.randrange(len(fds))]
    t = time.perf_counter()
    os.preadv(fd, [buf], rng.randrange(size // 4096) * 4096)
    lat.append(time.perf_counter() - t)
q = lambda a, p: sorted(a)[min(len(a) - 1, int(p * len(a)))] * 1e3
print("random 4 KiB O_DIRECT reads (2000, cache warm after the whole-file reads): "
      "p50 %.3f ms, p99 %.3f ms" % (q(lat, .5), q(lat, .99)))
PY
umount_
mount_ "$tmp/log4" recompress=off
python3 - "$m" "$@" <<'PY'
import mmap, os, random, sys, time
m, names = sys.argv[1], [os.path.basename(p) for p in sys.argv[2:]]
rng, lat = random.Random(2), []
fds = [(os.open(os.path.join(m, n), os.O_RDONLY | os.O_DIRECT), os.path.getsize(os.path.join(m, n))) for n in names]
buf = mmap.mmap(-1, 4096)
for _ in range(300):
    fd, size = fds[rng.randrange(len(fds))]
    t = time.perf_counter()
    os.preadv(fd, [buf], rng.randrange(size // 4096) * 4096)
    lat.append(time.perf_counter() - t)
q = lambda a, p: sorted(a)[min(len(a) - 1, int(p * len(a)))] * 1e3
print("random 4 KiB O_DIRECT reads (300, fresh mount: cold blocks regenerate): "
      "p50 %.3f ms, p99 %.3f ms" % (q(lat, .5), q(lat, .99)))
PY
