#!/usr/bin/env bash
# Storage-cost experiment on the HEP samples: what each way of storing them costs in disk bytes,
# in CPU to write them and in CPU to read them back, boafs before and after background
# recompression with BOA included.
#
#   bash examples/storage-cost/run.sh [OUTDIR]      (as root: it mounts boafs)
#
# Writes OUTDIR/table.md (the numbers), OUTDIR/points.tsv and OUTDIR/storage-cost.png (stored
# bytes against write and read CPU, log scale; plot.py). Default OUTDIR: examples/storage-cost/out.
# BOA_LEVEL=N picks the level of both boafs and `boa compress` (default: 2, the cold tier, for both);
# HEP_DATA another directory of samples; BOAFS_BUILD an existing build directory.
#
# What the CPU figures include (user + system seconds, from wait4's rusage or `boa stats`):
#   write, a file at a time: the compressor's run on each file (compression only);
#   write, boafs zstd stage: zstd encoding in the daemon (compression only);
#   write, boafs after BOA: the zstd stage, BOA encoding and the decode that verifies every BOA
#     block before it replaces anything (compression plus verification);
#   read, a file at a time: the decompressor's run on each file;
#   read, boafs: the daemon's whole CPU time while every file is read once from a fresh mount
#     (decoding, prefetching and FUSE work).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
out=${1:-$here/out}
data=${HEP_DATA:-$src/tests/data/hep}
level=${BOA_LEVEL:-}
mkdir -p "$out"

need=()
command -v fio >/dev/null || need+=(fio)
command -v xz >/dev/null || need+=(xz-utils)
command -v zstd >/dev/null || need+=(zstd)
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || need+=(python3-matplotlib)
if [ ${#need[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
build=${BOAFS_BUILD:-$src/build}
[ -x "$build/fs/boafs" ] || meson setup "$build" "$src" --buildtype=release >/dev/null
ninja -C "$build" fs/boafs boa >/dev/null
boafs=$build/fs/boafs
boa=$build/boa

work=$(mktemp -d "${TMPDIR:-/tmp}/boafs-cost.XXXXXX")
mnt=$work/mnt
mkdir -p "$mnt"
daemon=
cleanup() {
	set +e
	# Lazily when busy (a reader killed with us): never let rm walk into a mounted archive.
	mountpoint -q "$mnt" && { fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt"; }
	[ -n "$daemon" ] && wait "$daemon"
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

files=()
for f in "$data"/*; do
	case $f in *.md | *.txt) continue ;; esac # the samples' README is not data
	files+=("$f")
done
logical=$(cat "${files[@]}" | wc -c)
steps=6
step_start=$SECONDS
begin=$SECONDS
step() { # N WHAT
	printf '[%d/%d %ds] %s\n' "$1" "$steps" $((SECONDS - begin)) "$2"
	step_start=$SECONDS
}

# progress WHAT DONE TOTAL: the share done and an ETA; on a terminal the line rewrites itself,
# otherwise it is printed at most every 10 s and once at the end.
last_print=0
progress() {
	local el=$((SECONDS - step_start)) eta="?" line
	[ "$2" -gt 0 ] && eta="$((el * ($3 - $2) / $2))s"
	line=$(printf '  %s: %d of %d, %ds elapsed, ETA %s' "$1" "$2" "$3" "$el" "$eta")
	if [ -t 1 ]; then
		printf '\r%-78s' "$line"
		[ "$2" -lt "$3" ] || echo
	elif [ "$2" -ge "$3" ] || [ $((SECONDS - last_print)) -ge 10 ]; then
		echo "$line"
		last_print=$SECONDS
	fi
}

# cpurun CPUFILE CMD...: runs CMD (stdin and stdout as given) and writes its CPU seconds, user +
# system of it and all its threads, to CPUFILE. wait4's rusage counts in microseconds, where
# /usr/bin/time prints hundredths and /proc counts ticks of 10 ms.
cpurun() {
	/usr/bin/python3 -c '
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, ru = os.wait4(pid, 0)
open(sys.argv[1], "w").write("%.6f\n" % (ru.ru_utime + ru.ru_stime))
sys.exit(os.waitstatus_to_exitcode(status) & 255)' "$@"
}

# timed OUTFILE IN CMD...: runs CMD with stdout to OUTFILE, IN in place of an argument {} (or
# last), and prints its CPU seconds (user + system).
timed() {
	local o=$1 in=$2 a put=0
	local -a cmd=()
	shift 2
	for a in "$@"; do
		if [ "$a" = "{}" ]; then
			cmd+=("$in")
			put=1
		else
			cmd+=("$a")
		fi
	done
	[ "$put" -eq 1 ] || cmd+=("$in")
	cpurun "$work/time" "${cmd[@]}" >"$o"
	awk '{ printf "%.6f", $1 }' "$work/time"
}
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a + b }'; }

# ---- a file at a time ------------------------------------------------------------------------
# peer NAME EXT DECOMPRESS-CMD -- COMPRESS-CMD: each file compressed on its own (as a user would
# store them one by one), then decompressed and compared.
peer() {
	local name=$1 ext=$2 bytes=0 wcpu=0 rcpu=0 f i=0 c
	local -a dec=()
	shift 2
	while [ "$1" != -- ]; do
		dec+=("$1")
		shift
	done
	shift
	for f in "${files[@]}"; do
		c=$(timed "$work/peer.$ext" "$f" "$@")
		wcpu=$(add "$wcpu" "$c")
		bytes=$((bytes + $(stat -c %s "$work/peer.$ext")))
		c=$(timed "$work/peer.out" "$work/peer.$ext" "${dec[@]}")
		rcpu=$(add "$rcpu" "$c")
		cmp -s "$f" "$work/peer.out" || { echo "$name: $f does not decompress back" >&2; exit 1; }
		i=$((i + 1))
		progress "$name" "$i" "${#files[@]}"
	done
	printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$bytes" "$wcpu" "$rcpu" "compression only" \
		>>"$out/points.tsv"
}
printf 'raw\t%s\t0\t0\tnone\n' "$logical" >"$out/points.tsv"
step 1 "a file at a time: zstd -3, zstd -19, xz -9e, boa compress (${#files[@]} files, $logical bytes)"
step_start=$SECONDS
peer zstd-3 zst zstd -d -q -c -- zstd -3 -q -c
step_start=$SECONDS
peer zstd-19 zst zstd -d -q -c -- zstd -19 -q -c
step_start=$SECONDS
peer xz-9e xz xz -d -c -- xz -9e -c
step_start=$SECONDS
peer "boa ${level:+-$level }(whole files)" boa "$boa" decompress -q -T 1 {} - -- \
	"$boa" compress -q ${level:+-$level} -T 1 {} -

# ---- boafs -----------------------------------------------------------------------------------
# mount_archive ARCHIVE OPTIONS: the daemon in the foreground of a background job, so that an
# unmount can wait for it; its CPU time goes to $work/daemon.cpu when it exits.
mount_archive() {
	cpurun "$work/daemon.cpu" "$boafs" "$1" "$mnt" -f -o "$2" </dev/null 2>>"$work/boafs.log" &
	daemon=$!
	until mountpoint -q "$mnt"; do
		kill -0 "$daemon" 2>/dev/null || { cat "$work/boafs.log" >&2; exit 1; }
		sleep 0.1
	done
}
unmount_archive() {
	fusermount3 -u "$mnt"
	wait "$daemon"
	daemon=
}
stats() { # ARCHIVE EXPRESSION: a number from boa stats --json, s being the whole document
	"$boa" stats --json --sample 0 "$1" | /usr/bin/python3 -c "
import json, sys
s = json.load(sys.stdin)
print('%.6f' % ($2) if isinstance($2, float) else $2)"
}
# read_cpu ARCHIVE: the daemon's CPU to read every file once from a fresh mount (cold: nothing in
# the kernel's or the daemon's cache): a mount that reads everything, less one that reads
# nothing (starting and stopping the daemon).
read_cpu() {
	local f idle busy
	mount_archive "$1" recompress=off
	unmount_archive
	idle=$(cat "$work/daemon.cpu")
	mount_archive "$1" recompress=off
	for f in "${files[@]}"; do
		cmp -s "$mnt/$(basename "$f")" "$f" || { echo "boafs: $f does not read back" >&2; exit 1; }
	done
	unmount_archive
	busy=$(cat "$work/daemon.cpu")
	awk -v a="$idle" -v b="$busy" 'BEGIN { d = b - a; printf "%.6f", (d > 0 ? d : 0) }'
}

step 2 "boafs, zstd stage: the files copied in with recompression off"
mount_archive "$work/archive" recompress=off
cp "${files[@]}" "$mnt/"
unmount_archive
cp -a "$work/archive" "$work/archive-zstd" # kept as it is, for its read cost
stored_zstd=$(stats "$work/archive" 's["stored_bytes"]')
cpu_zstd=$(stats "$work/archive" 's["codecs"]["zstd"]["cpu_encode_s"]')
read_zstd=$(read_cpu "$work/archive-zstd")
printf 'boafs zstd stage\t%s\t%s\t%s\t%s\n' "$stored_zstd" "$cpu_zstd" "$read_zstd" \
	"compression only" >>"$out/points.tsv"
echo "  $stored_zstd bytes stored, $cpu_zstd CPU s to write, $read_zstd CPU s to read"

step 3 "boafs, recompression with BOA ${level:+level $level }(recompress=now) until no block is pending"
mount_archive "$work/archive" "recompress=now${level:+,boa_level=$level}"
total=$(stats "$work/archive" 's["pending_blocks"]')
best=$total
last_change=$SECONDS
while :; do
	pending=$(stats "$work/archive" 's["pending_blocks"]')
	[ "$pending" -lt "$best" ] && { best=$pending; last_change=$SECONDS; }
	progress "blocks recompressed or tried" $((total - pending)) "$total"
	[ "$pending" -eq 0 ] && break
	# A condition, not a time: only a pool that got no block done for 10 minutes is stuck.
	[ $((SECONDS - last_change)) -lt 600 ] || { echo "recompression stuck" >&2; exit 1; }
	sleep 1
done
unmount_archive
"$boa" stats --json "$work/archive" >"$out/stats-boa.json"
"$boa" stats "$work/archive" >"$out/stats-boa.txt"
stored_boa=$(stats "$work/archive" 's["stored_bytes"]')
enc_boa=$(stats "$work/archive" 's["codecs"]["boa"]["cpu_encode_s"]')
verify_boa=$(stats "$work/archive" 's["codecs"]["boa"]["cpu_decode_s"]')
write_boa=$(add "$(add "$cpu_zstd" "$enc_boa")" "$verify_boa")

step 4 "boafs after BOA: every file read back and compared"
read_boa=$(read_cpu "$work/archive")
printf 'boafs after BOA\t%s\t%s\t%s\t%s\n' "$stored_boa" "$write_boa" "$read_boa" \
	"compression plus verification" >>"$out/points.tsv"
echo "  $stored_boa bytes stored, $write_boa CPU s to write ($enc_boa BOA encode, $verify_boa" \
	"verify), $read_boa CPU s to read"
"$boa" fsck "$work/archive" >"$out/fsck.txt"

step 5 "latency of a random 4 KiB read that lands in a cold block (O_DIRECT, no block cache)"
lat_reads=30 # a cold BOA block costs about a second to decode: enough for a median and a worst case
lat() { # ARCHIVE FILE -> "p50 max" in microseconds
	mount_archive "$1" recompress=off,cache_size=0
	fio --name=lat --filename="$mnt/$2" --rw=randread --bs=4k --direct=1 --ioengine=psync \
		--number_ios=$lat_reads --output-format=json --output="$work/fio.json" >/dev/null
	unmount_archive
	/usr/bin/python3 -c "
import json; c = json.load(open('$work/fio.json'))['jobs'][0]['read']['clat_ns']
print('%.3f %.3f' % (c['percentile']['50.000000'] / 1e6, c['max'] / 1e6))"
}
read -r z50 z99 < <(lat "$work/archive-zstd" pylhe-testfile-pr29.lhe)
read -r b50 b99 < <(lat "$work/archive" pylhe-testfile-pr29.lhe)
echo "  zstd block median $z50 ms, max $z99 ms; BOA block median $b50 ms, max $b99 ms"

step 6 "table and plot"
{
	echo "# Storage cost of the HEP samples (${#files[@]} files, $logical bytes)"
	echo
	echo "Measured $(date -u +%F) on $(nproc) cores ($(uname -m)); load average at the end:"
	echo "$(cut -d' ' -f1-3 /proc/loadavg). CPU seconds are user + system; on a shared machine"
	echo "they are inflated. boafs at BOA level ${level:-4 (default)}, \`boa compress\` at" \
		"level ${level:-1 (default)}."
	echo
	echo "| how stored | stored bytes | ratio | write CPU s | read CPU s | write CPU s/GB | read CPU s/GB | write CPU includes |"
	echo "|---|---:|---:|---:|---:|---:|---:|---|"
	while IFS=$'\t' read -r name bytes w r what; do
		/usr/bin/python3 -c "
import sys
name, b, w, r, what, logical = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], int(sys.argv[6])
gb = logical / 1e9
print('| %s | %s | %.2fx | %s | %s | %s | %s | %s |' % (name, format(b, ','), logical / b,
      format(w, ',.3f'), format(r, ',.3f'), format(w / gb, ',.1f'), format(r / gb, ',.1f'), what))
" "$name" "$bytes" "$w" "$r" "$what" "$logical"
	done <"$out/points.tsv"
	echo
	echo "\`boa compress\` stores ROOT and gzip files unwrapped (its default)."
	echo "Ratio is logical / stored bytes. boafs counts 48 bytes of record header per 128 KiB"
	echo "block; the other rows are bare compressed streams of whole files, which allow no random"
	printf 'access. boafs after BOA: %.3f CPU s of BOA encoding and %.3f of verification\n' \
		"$enc_boa" "$verify_boa"
	echo "decoding. Read CPU for boafs is the daemon's, for everything it does to serve the reads."
	echo
	echo "Latency of a random 4 KiB O_DIRECT read of pylhe-testfile-pr29.lhe that lands in a"
	echo "cold block (no block cache), $lat_reads reads:"
	echo
	echo "| block | median ms | max ms |"
	echo "|---|---:|---:|"
	echo "| zstd | $z50 | $z99 |"
	echo "| BOA | $b50 | $b99 |"
	echo
	echo '```'
	cat "$out/stats-boa.txt"
	echo '```'
} >"$out/table.md"
/usr/bin/python3 "$here/plot.py" "$out/points.tsv" "$out/storage-cost.png" "$logical" "$z50" "$b50"
cat "$out/table.md"
echo "plot: $out/storage-cost.png (done in $((SECONDS - begin))s)"
