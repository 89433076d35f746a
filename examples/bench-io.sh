#!/usr/bin/env bash
# bench-io.sh — I/O throughput of boafs next to the plain backing directory and libfuse's
# passthrough_ll (the cost of FUSE alone), measured in one run with fio.
#
# usage: examples/bench-io.sh            (from the source tree, after `meson setup build && ninja -C build`)
#   BOAFS_BUILD=DIR   build directory holding fs/boafs (default: ./build, else the first ./build*/)
#   BENCH_DIR=DIR     where the temp dir with the backing data goes (default /var/tmp; use a disk)
#   BENCH_SIZE=1G     size of the test file;   BENCH_RUNTIME=20   seconds per random-read test
#
# Data: fio's own buffers with buffer_compress_percentage=50 (refilled for every write, so no two
# blocks are alike): half of each 4 KiB chunk random, half repeated, which compresses about 2x,
# like much real data. The same bytes-per-second definitions apply to all three targets.
#
# Tests, in order, on each target (a) the plain backing directory, (b) passthrough_ll over a second
# backing directory, (c) boafs with default options over an archive in a third:
#   seq write   1 MiB writes of the whole file, fsync at the end (included in the time)
#   seq read    1 MiB reads of the whole file, cold: the FUSE mounts are remounted and, as root,
#               the kernel's page cache is dropped (echo 3 > /proc/sys/vm/drop_caches) first
#   rand read   4 KiB reads at random offsets for BENCH_RUNTIME seconds, O_DIRECT (no page cache:
#               every read reaches the file system; for boafs, a block decode unless cached), 1 job
#   rand read   the same, buffered and cold, 4 jobs (what an analysis job reading columns sees)
# Needs: fio, gcc, pkg-config, libfuse3-dev (for /usr/share/doc/libfuse3-dev/examples/passthrough_ll.c).
set -euo pipefail

size=${BENCH_SIZE:-1G}
runtime=${BENCH_RUNTIME:-20}

# The build, the temp dir, the mount helpers and the EXIT/INT/TERM trap that unmounts and cleans up.
# shellcheck source=lib-bench.sh
. "$(dirname "$0")/lib-bench.sh"
for c in fio gcc pkg-config python3; do
	command -v "$c" >/dev/null || fail "$c not installed"
done
pt_src=/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c
[ -f "$pt_src" ] || fail "$pt_src not found (apt-get install libfuse3-dev)"

t=$(it_tmpdir)
mkdir -p "$t/plain" "$t/pt-backing" "$t/pt" "$t/boafs"
# shellcheck disable=SC2046
gcc -O2 -o "$t/passthrough_ll" "$pt_src" $(pkg-config --cflags --libs fuse3) ||
	fail "cannot build passthrough_ll"

mount_passthrough() {
	track_mount "$t/pt"
	"$t/passthrough_ll" -o source="$t/pt-backing" "$t/pt" || fail "passthrough_ll did not mount"
	is_mounted "$t/pt" || fail "passthrough_ll did not mount"
}
mount_all() {
	mount_passthrough
	mount_boafs "$t/archive" "$t/boafs" || fail "boafs did not mount"
}
# Cold caches: fresh FUSE mounts (page cache and daemon caches gone) and, as root, no page cache.
cold() {
	unmount_boafs "$t/pt" || fail "unmount passthrough_ll"
	unmount_boafs "$t/boafs" || fail "unmount boafs"
	drop_page_cache
	mount_all
}
[ "$(id -u)" -eq 0 ] || echo "note: not root: cannot drop the page cache; plain-directory reads may be cached" >&2

# fio_run NAME DIR ARGS...: one fio job on DIR/testfile; prints "MB/s IOPS".
fio_run() {
	local name=$1 dir=$2
	shift 2
	fio --name="$name" --filename="$dir/testfile" --size="$size" --ioengine=psync \
		--fallocate=none --buffer_compress_percentage=50 --buffer_compress_chunk=4k \
		--refill_buffers --group_reporting --output-format=json "$@" >"$t/fio.json" ||
		fail "fio $name on $dir failed"
	python3 - "$t/fio.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
side = j["write"] if j["write"]["io_bytes"] > 0 else j["read"]
print("%.1f %.0f" % (side["bw_bytes"] / 1e6, side["iops"]))
EOF
}

targets=(plain passthrough_ll boafs)
declare -A dir=([plain]=$t/plain [passthrough_ll]=$t/pt [boafs]=$t/boafs)
declare -A result=()
mount_all

echo "writing ${size} sequentially ..." >&2
for x in "${targets[@]}"; do
	read -r bw iops < <(fio_run seqwrite "${dir[$x]}" --rw=write --bs=1M --end_fsync=1)
	result[seqwrite,$x]=$bw
done
stored=$(du -s -B1 "$t/boafs/testfile" | cut -f1)
logical=$(du -s -B1 --apparent-size "$t/boafs/testfile" | cut -f1)

echo "reading ${size} sequentially (cold) ..." >&2
cold
for x in "${targets[@]}"; do
	read -r bw iops < <(fio_run seqread "${dir[$x]}" --rw=read --bs=1M)
	result[seqread,$x]=$bw
done

echo "random 4 KiB reads, O_DIRECT, ${runtime}s each ..." >&2
cold
for x in "${targets[@]}"; do
	read -r bw iops < <(fio_run randread "${dir[$x]}" --rw=randread --bs=4k --direct=1 \
		--time_based --runtime="$runtime" --randrepeat=1)
	result[randdirect,$x]=$iops
done

echo "random 4 KiB reads, buffered and cold, 4 jobs, ${runtime}s each ..." >&2
cold
for x in "${targets[@]}"; do
	read -r bw iops < <(fio_run randread4 "${dir[$x]}" --rw=randread --bs=4k --numjobs=4 \
		--time_based --runtime="$runtime" --randrepeat=1)
	result[randbuf,$x]=$iops
done

ratio() { python3 -c "import sys; a, b = map(float, sys.argv[1:]); print('%.2f' % (a / b) if b else '-')" "$1" "$2"; }
echo
echo "boafs I/O benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r), $("$BOAFS_BIN" -V | sed -n 1p)"
echo "backing file system: $(df -T "$t" | awk 'NR == 2 { print $2 " on " $1 }'); test file ${size};" \
	"data: fio buffer_compress_percentage=50 (stored by boafs: $((stored / 1048576)) MiB of $((logical / 1048576)) MiB, $(ratio "$logical" "$stored")x)"
printf '%-34s %12s %15s %12s %18s\n' test plain passthrough_ll boafs boafs/passthrough
for row in "seqwrite:seq write 1 MiB + fsync (MB/s)" "seqread:seq read 1 MiB, cold (MB/s)" \
	"randdirect:rand read 4 KiB O_DIRECT (IOPS)" "randbuf:rand read 4 KiB, 4 jobs (IOPS)"; do
	key=${row%%:*}
	printf '%-34s %12s %15s %12s %18s\n' "${row#*:}" "${result[$key,plain]}" \
		"${result[$key,passthrough_ll]}" "${result[$key,boafs]}" \
		"$(ratio "${result[$key,boafs]}" "${result[$key,passthrough_ll]}")"
done
