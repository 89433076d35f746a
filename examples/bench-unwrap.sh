#!/usr/bin/env bash
# Storing already-compressed HEP files (issue 10): for each file, side by side in one run,
#   bytes       as they are
#   xz -9e      the whole file, xz -9e
#   zstd -19    the whole file, zstd -19
#   boa raw     the file as it is, boa -1 per 128 KiB (what boafs stores today, at best)
#   unwrapped   bytes after unwrapping (verbatim pieces + decompressed streams, doubles that
#               are short decimals through the DEC8 filter, laid out as boafs stores them:
#               baskets of one branch family side by side) and the CPU seconds the scan and
#               recipe search took
#   boa unw     the unwrapped bytes, boa -1 per 128 KiB, plus the serialized plan
#   zstd unw    the unwrapped bytes, zstd -19 per 128 KiB, plus the plan (the cheaper coder)
#   boa 1M      `boa compress -1 -B 1M` of the file: unwrapped by boa itself, coded per 1 MiB
#               (the baskets of a tree repeat each other over more than 128 KiB)
# and the ratio (bytes / stored) of each, then totals for the zlib/LZ4 ROOT files (the goal:
# >= 1.6x) and for all files. Every file is re-created from its boa-coded unwrapped bytes and
# compared with the original before its numbers are printed.
#
# usage: examples/bench-unwrap.sh [FILES...]   (default: tests/data/rootc/*)
# Needs a build in build/ (meson setup build && ninja -C build) and xz, zstd. Not part of the
# test suite: it takes a few minutes of CPU (boa -1 runs at about 1 MB/s).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$src/build}
boa=$build/boa
tool=$build/tests/codec/unwrap_tool
for p in "$boa" "$tool"; do
	[ -x "$p" ] || { echo "bench-unwrap: $p missing: meson setup build && ninja -C build" >&2; exit 1; }
done
for p in xz zstd /usr/bin/time; do
	command -v "$p" >/dev/null || { echo "bench-unwrap: $p missing (apt-get install xz-utils zstd time)" >&2; exit 1; }
done
if [ $# -eq 0 ]; then
	set -- "$src"/tests/data/rootc/*.root "$src"/tests/data/rootc/*.gz
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

size() { stat -c %s "$1"; }
# CPU seconds (user + system) of a command, into the file $tmp/cpu.
cpu() { /usr/bin/time -f '%U %S' -o "$tmp/cpu.raw" "$@" && awk '{ printf "%.2f", $1 + $2 }' "$tmp/cpu.raw" >"$tmp/cpu"; }
# zstd -19 of a file cut in 128 KiB blocks, each compressed on its own (as boafs stores blocks):
# the total into $tmp/zs, the CPU seconds into $tmp/cpu.
zstd_blocks() {
	rm -rf "$tmp/blk" && mkdir "$tmp/blk"
	split -b 128K -a 6 "$1" "$tmp/blk/b"
	cpu bash -c 'total=0; for b in "$1"/b*; do total=$((total + $(zstd -19 -q -c "$b" | wc -c))); done; echo $total >"$2"' \
		_ "$tmp/blk" "$tmp/zs"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", b ? a / b : 0 }'; }

printf '%-44s %9s %9s %9s %9s %10s %6s %9s %6s %9s %6s %9s\n' file bytes 'xz -9e' 'zstd -19' \
	'boa raw' unwrapped 'cpu s' 'boa unw' 'cpu s' 'zstd unw' 'cpu s' 'boa 1M'
declare -A sum
for f in "$@"; do
	name=$(basename "$f")
	n=$(size "$f")
	xzn=$(xz -9e -T1 -c "$f" | wc -c)
	zsn=$(zstd -19 -q -c "$f" | wc -c)
	"$boa" compress -q -1 -B 128K -T 1 --no-unwrap -f "$f" "$tmp/raw.boa"
	boaraw=$(size "$tmp/raw.boa")
	cpu "$tool" unwrap "$f" "$tmp/unw" "$tmp/plan" >/dev/null
	unwrap_cpu=$(cat "$tmp/cpu")
	un=$(size "$tmp/unw")
	plan=$(size "$tmp/plan")
	cpu "$boa" compress -q -1 -B 128K -T 1 --no-unwrap -f "$tmp/unw" "$tmp/unw.boa"
	boa_cpu=$(cat "$tmp/cpu")
	boaunw=$(($(size "$tmp/unw.boa") + plan))
	zstd_blocks "$tmp/unw"
	zsunw=$(($(cat "$tmp/zs") + plan))
	zs_cpu=$(cat "$tmp/cpu")
	# The stored form must give back the file, byte for byte.
	"$boa" decompress -q -T 1 -f "$tmp/unw.boa" "$tmp/unw.back"
	"$tool" regenerate "$tmp/plan" "$tmp/unw.back" "$tmp/back"
	cmp -s "$tmp/back" "$f" || { echo "bench-unwrap: $name does not come back byte for byte" >&2; exit 1; }
	"$boa" compress -q -1 -B 1M -T 1 -f "$f" "$tmp/1m.boa"
	boa1m=$(size "$tmp/1m.boa")
	"$boa" decompress -q -T 1 -f "$tmp/1m.boa" "$tmp/back"
	cmp -s "$tmp/back" "$f" || { echo "bench-unwrap: $name: boa decompress differs" >&2; exit 1; }
	printf '%-44s %9d %9d %9d %9d %10d %6s %9d %6s %9d %6s %9d\n' "$name" "$n" "$xzn" "$zsn" \
		"$boaraw" "$un" "$unwrap_cpu" "$boaunw" "$boa_cpu" "$zsunw" "$zs_cpu" "$boa1m"
	printf '%-44s %9s %9s %9s %9s %10s %6s %9s %6s %9s %6s %9s\n' '' '' "$(ratio "$n" "$xzn")" \
		"$(ratio "$n" "$zsn")" "$(ratio "$n" "$boaraw")" '' '' "$(ratio "$n" "$boaunw")" '' \
		"$(ratio "$n" "$zsunw")" '' "$(ratio "$n" "$boa1m")"
	groups=all
	case $name in
	*lzma*.root | *zstd*.root) ;;
	*.root) groups="all zliblz4" ;;
	esac
	for g in $groups; do
		for k in n xzn zsn boaraw un boaunw zsunw boa1m; do
			sum[$g.$k]=$((${sum[$g.$k]:-0} + ${!k}))
		done
		for k in unwrap_cpu boa_cpu zs_cpu; do
			sum[$g.$k]=$(awk -v a="${sum[$g.$k]:-0}" -v b="${!k}" 'BEGIN { printf "%.2f", a + b }')
		done
	done
done
for g in zliblz4 all; do
	[ -n "${sum[$g.n]:-}" ] || continue
	label="total, all files"
	[ $g = zliblz4 ] && label="total, zlib/LZ4 ROOT files (goal >= 1.6x)"
	printf '%-44s %9d %9d %9d %9d %10d %6s %9d %6s %9d %6s %9d\n' "$label" "${sum[$g.n]}" \
		"${sum[$g.xzn]}" "${sum[$g.zsn]}" "${sum[$g.boaraw]}" "${sum[$g.un]}" \
		"${sum[$g.unwrap_cpu]}" "${sum[$g.boaunw]}" "${sum[$g.boa_cpu]}" "${sum[$g.zsunw]}" \
		"${sum[$g.zs_cpu]}" "${sum[$g.boa1m]}"
	printf '%-44s %9s %9s %9s %9s %10s %6s %9s %6s %9s %6s %9s\n' '' '' \
		"$(ratio "${sum[$g.n]}" "${sum[$g.xzn]}")" "$(ratio "${sum[$g.n]}" "${sum[$g.zsn]}")" \
		"$(ratio "${sum[$g.n]}" "${sum[$g.boaraw]}")" '' '' \
		"$(ratio "${sum[$g.n]}" "${sum[$g.boaunw]}")" '' \
		"$(ratio "${sum[$g.n]}" "${sum[$g.zsunw]}")" '' "$(ratio "${sum[$g.n]}" "${sum[$g.boa1m]}")"
done
