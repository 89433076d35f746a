#!/usr/bin/env bash
# Storage-cost experiment on the HEP samples: what each way of storing them costs in disk bytes
# and in CPU seconds, boafs before and after background recompression with BOA included.
#
#   bash examples/storage-cost/run.sh [OUTDIR]      (as root: it mounts boafs)
#
# Writes OUTDIR/table.md (the numbers), OUTDIR/points.tsv and OUTDIR/storage-cost.png (stored
# bytes against CPU seconds, gnuplot). Default OUTDIR: examples/storage-cost/out.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
out=${1:-$here/out}
data=${HEP_DATA:-$src/tests/data/hep}
[ -d "$data" ] || data=$src/tests/data/hep
level=${BOA_LEVEL:-}
mkdir -p "$out"

need=()
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v fio >/dev/null || need+=(fio)
command -v xz >/dev/null || need+=(xz-utils)
command -v zstd >/dev/null || need+=(zstd)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
	sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
build=${BOAFS_BUILD:-$src/build}
[ -x "$build/fs/boafs" ] || { meson setup "$build" "$src" --buildtype=release >/dev/null; }
ninja -C "$build" >/dev/null
boafs=$build/fs/boafs
boa=$build/boa

work=$(mktemp -d /tmp/boafs-cost.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
cleanup() {
	mountpoint -q "$mnt" && fusermount3 -u "$mnt"
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

files=("$data"/*)
logical=$(cat "${files[@]}" | wc -c)

# CPU seconds (user+sys) of a command, to stdout; the command's output goes to /dev/null.
cpu_of() {
	local t
	if [ "$(type -t "$1")" = function ]; then
		# a shell function: time it through bash, with the function exported
		export -f "$1"
		export boa level
		t=$( { /usr/bin/time -f '%U %S' bash -c '"$@"' _ "$@" >/dev/null; } 2>&1 | tail -1)
	else
		t=$( { /usr/bin/time -f '%U %S' "$@" >/dev/null; } 2>&1 | tail -1)
	fi
	awk -v t="$t" 'BEGIN { split(t, a, " "); printf "%.3f", a[1] + a[2] }'
}

boa_whole() { "$boa" compress ${level:+-$level} -T 1 "$1" -; }

# Each file compressed on its own, as a user would store them one by one.
peer() { # name, compress command prefix (reads the file argument, writes stdout)
	local name=$1 bytes=0 cpu=0 f c
	shift
	for f in "${files[@]}"; do
		"$@" "$f" >"$work/peer.out"
		bytes=$((bytes + $(wc -c <"$work/peer.out")))
		c=$(cpu_of "$@" "$f")
		cpu=$(awk -v a="$cpu" -v b="$c" 'BEGIN { printf "%.3f", a + b }')
	done
	printf '%s\t%s\t%s\n' "$name" "$bytes" "$cpu"
}

{
	printf 'raw\t%s\t0\n' "$logical"
	peer zstd-3 zstd -3 -q -c
	peer zstd-19 zstd -19 -q -c
	peer xz-9e xz -9e -c
	peer "boa (whole files)" boa_whole
} >"$out/points.tsv"

json_field() { # file, codec or "" for top level, field
	python3 - "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
node = d["codecs"][sys.argv[2]] if sys.argv[2] else d
print(node[sys.argv[3]])
PY
}

# boafs, zstd stage: copy in with recompression off.
"$boafs" "$work/archive" "$mnt" -o recompress=off
cp -a "${files[@]}" "$mnt/"
sync
fusermount3 -u "$mnt"
"$boa" stats --json "$work/archive" >"$out/stats-zstd.json"
stored_zstd=$(json_field "$out/stats-zstd.json" "" stored_bytes)
cpu_zstd=$(json_field "$out/stats-zstd.json" zstd cpu_encode_s)
printf 'boafs zstd stage\t%s\t%s\n' "$stored_zstd" "$cpu_zstd" >>"$out/points.tsv"

# boafs after recompression: mount with recompress=now and wait until nothing is pending.
"$boafs" "$work/archive" "$mnt" -o recompress=now${level:+,boa_level=$level}
start=$(date +%s)
while :; do
	pending=$("$boa" stats --json "$work/archive" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pending_blocks"])')
	[ "$pending" -eq 0 ] && break
	[ $(($(date +%s) - start)) -lt 1800 ] || { echo "recompression did not finish" >&2; exit 1; }
	sleep 2
done
fusermount3 -u "$mnt"
"$boa" stats --json "$work/archive" >"$out/stats-boa.json"
"$boa" stats "$work/archive" >"$out/stats-boa.txt"
stored_boa=$(json_field "$out/stats-boa.json" "" stored_bytes)
cpu_boa=$(python3 -c "
import json; d = json.load(open('$out/stats-boa.json'))
print('%.3f' % (d['codecs']['zstd']['cpu_encode_s'] + d['codecs']['boa']['cpu_encode_s'] + d['codecs']['boa']['cpu_decode_s']))")
printf 'boafs after BOA\t%s\t%s\n' "$stored_boa" "$cpu_boa" >>"$out/points.tsv"

# Decode everything back and verify; a fsck of the archive.
"$boafs" "$work/archive" "$mnt" -o recompress=off
for f in "${files[@]}"; do cmp "$f" "$mnt/$(basename "$f")"; done
echo "all $((${#files[@]})) files read back identical"

# Latency of a random 4 KiB read that lands in a cold block: no daemon cache, O_DIRECT.
fusermount3 -u "$mnt"
lat() { # archive, file -> "p50 p99" in microseconds
	"$boafs" "$1" "$mnt" -o recompress=off,cache_size=0
	fio --name=lat --filename="$mnt/$2" --rw=randread --bs=4k --direct=1 --ioengine=psync \
		--number_ios=200 --output-format=json --output="$work/fio.json" >/dev/null
	fusermount3 -u "$mnt"
	python3 -c "
import json; j = json.load(open('$work/fio.json'))['jobs'][0]['read']['clat_ns']['percentile']
print('%.0f %.0f' % (j['50.000000'] / 1e3, j['99.000000'] / 1e3))"
}
"$boafs" "$work/zstd-only" "$mnt" -o recompress=off
cp "$data/pylhe-testfile-pr29.lhe" "$mnt/"
fusermount3 -u "$mnt"
read -r z50 z99 < <(lat "$work/zstd-only" pylhe-testfile-pr29.lhe)
read -r b50 b99 < <(lat "$work/archive" pylhe-testfile-pr29.lhe)
"$boa" fsck "$work/archive" >"$out/fsck.txt"

{
	echo "# Storage cost of the HEP samples ($(basename "$data"), ${#files[@]} files, $logical bytes)"
	echo
	echo "| how stored | bytes | ratio | CPU seconds (compress) |"
	echo "|---|---:|---:|---:|"
	while IFS=$'\t' read -r name bytes cpu; do
		printf '| %s | %s | %.3fx | %s |\n' "$name" "$bytes" "$(awk -v l="$logical" -v b="$bytes" 'BEGIN { print l / b }')" "$cpu"
	done <"$out/points.tsv"
	echo
	echo "boafs counts 48 bytes of record header per block; peers are bare compressed streams."
	echo "Random 4 KiB O_DIRECT read of a cold block (no daemon cache), pylhe-testfile-pr29.lhe:"
	echo "zstd block p50 ${z50} us, p99 ${z99} us; BOA block p50 ${b50} us, p99 ${b99} us."
	echo
	echo '```'
	cat "$out/stats-boa.txt"
	echo '```'
} >"$out/table.md"

gnuplot <<GP
set terminal pngcairo size 900,600 noenhanced
set output '$out/storage-cost.png'
set title 'HEP samples: stored bytes vs compression CPU'
set xlabel 'CPU seconds to compress'
set ylabel 'stored bytes'
set grid
set key off
set offsets 0, graph 0.25, graph 0.05, 0
set datafile separator '\t'
plot '$out/points.tsv' using 3:2 with points pt 7 ps 1.5, \
     '' using 3:2:1 with labels offset 1,0.8 left
GP
cat "$out/table.md"
echo "plot: $out/storage-cost.png"
