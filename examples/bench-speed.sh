#!/usr/bin/env bash
# BOA per core, level by level, against xz -9e and zpaq -m5, as boafs stores data: in 128 KiB
# blocks. Not part of the test suite (it measures time).
#
# Two sets:
#   samples  the HEP samples (tests/data/hep, or HEP_DATA=DIR), each file
#            coded with `boa compress -B 128K`; the peers code each 128 KiB piece on its own;
#   pieces   the uncompressed samples (all but the zlib-compressed uproot-HZZ.root) cut into
#            128 KiB files, each coded on its own by every coder.
# Rows: this checkout's levels (LEVELS, default 1-9) and the format-1 levels 1 and 4 of commit
# OLD (default a2a783e, the coder before format 2), built by this script from `git archive`
# (or OLD_BOA=path/to/boa). Every file is decompressed and compared. The coders are compared as
# such: this checkout's `boa` runs with --no-unwrap (the old one has no unwrapping), so the
# zlib-compressed uproot-HZZ.root is coded as it is by everyone.
#
# Speed is per core: one process, one thread, CPU seconds (user + sys) from /usr/bin/time; on a
# shared machine that is steadier than wall time, but still moves with cache and memory
# contention, so compare rows of one run. Ratios and bytes are exact on any machine.
#
# Then, through a mount, examples/bench-reads.sh with the same build: a sequential read of a
# BOA-recompressed file with -o threads=1 and with all CPUs, the p50/p99 latency of cold 4 KiB
# random reads, and the unmount time with the pool busy (BENCH_* variables, see that script).
#
#   examples/bench-speed.sh                   # everything (about 20 min on one idle core, plus
#                                             # recompressing 64 MiB for the mount part)
#   examples/bench-speed.sh --quick           # smoke run: one file, level 2, no format-1 rows,
#                                             # one set, an 8 MiB file for the mount part
#   examples/bench-speed.sh --no-reads        # the codec table only
#   examples/bench-speed.sh --no-codec        # the mount part only
#   LEVELS="1 2 3" SETS=pieces examples/bench-speed.sh
set -euo pipefail
quick=0 codec=1 reads=1
for arg; do
	case $arg in
	--quick) quick=1 ;;
	--no-codec) codec=0 ;;
	--no-reads) reads=0 ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-speed.sh: unknown argument '$arg' (--quick, --no-codec, --no-reads, --help)" >&2; exit 2 ;;
	esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
data=${HEP_DATA:-}
[ -n "$data" ] || data=tests/data/hep
if [ "$quick" = 1 ]; then
	levels=${LEVELS:-2}
	sets=${SETS:-samples}
	old=${OLD:-none}
	only=${QUICK_FILE:-pylhe-testfile-powheg-box-v2-Z.lhe} # one small file
	export BENCH_SIZE=${BENCH_SIZE:-8M} BENCH_READS=${BENCH_READS:-20}
else
	levels=${LEVELS:-1 2 3 4 5 6 7 8 9}
	sets=${SETS:-samples pieces}
	old=${OLD:-a2a783e}
	only=
fi
build=${BUILD:-build-bench}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

[ -d "$build" ] || meson setup "$build" --buildtype=release -Db_ndebug=true -Dwerror=false > /dev/null
ninja -C "$build" boa fs/boafs > /dev/null
boa=$root/$build/boa
old_boa=${OLD_BOA:-}
if [ "$codec" = 0 ] || [ "$old" = none ]; then
	old_boa=none
elif [ -z "$old_boa" ]; then
	echo "building the format-1 coder of $old ..." >&2
	mkdir -p "$work/old"
	git archive "$old" | tar -x -C "$work/old"
	meson setup "$work/old/build" "$work/old" --buildtype=release -Db_ndebug=true -Dwerror=false > /dev/null
	ninja -C "$work/old/build" boa > /dev/null
	old_boa=$work/old/build/boa
fi

# The sets: a list of files each.
mkdir -p "$work/samples" "$work/pieces"
for f in "$data"/*; do
	case $f in *.md) continue ;; esac
	[ -z "$only" ] || [ "$(basename "$f")" = "$only" ] || continue
	cp "$f" "$work/samples/"
	case $f in *HZZ*) continue ;; esac
	split -b 131072 -d -a 3 "$f" "$work/pieces/$(basename "$f")."
done

cpu() { # OUTFILE CMD...: runs CMD, adds its user + sys seconds to OUTFILE's number
	local t sum
	/usr/bin/time -f "%U %S" -o "$work/time" "${@:2}" || { tail -5 "$work/log" >&2; exit 1; }
	t=$(awk '{ print $1 + $2 }' "$work/time")
	sum=$(cat "$1" 2> /dev/null || echo 0)
	awk -v a="$sum" -v b="$t" 'BEGIN { print a + b }' > "$1"
}

# Prints "bytes enc_seconds dec_seconds" for coder NAME over the files of set SET.
run_coder() { # SET NAME
	local set=$1 name=$2 bytes=0 f base
	rm -f "$work/enc_t" "$work/dec_t"
	for f in "$work/$set"/*; do
		base=$work/out
		case $name in
		boa-*|old-*)
			local bin=$boa lv=${name#*-} opt=(-q --no-unwrap)
			[ "${name%%-*}" = old ] && bin=$old_boa opt=()
			cpu "$work/enc_t" "$bin" compress "${opt[@]}" "-$lv" -B 128K -f "$f" "$base.boa" 2>> "$work/log"
			cpu "$work/dec_t" "$bin" decompress "${opt[@]:0:1}" -f "$base.boa" "$base.raw" 2>> "$work/log"
			bytes=$((bytes + $(stat -c %s "$base.boa")))
			;;
		xz)
			rm -f "$base.xz"
			split -b 131072 -d -a 3 "$f" "$work/piece."
			for p in "$work"/piece.*; do
				cpu "$work/enc_t" xz -9e -k -c "$p" > "$base.xz"
				cpu "$work/dec_t" xz -d -c "$base.xz" > "$base.raw"
				cmp -s "$base.raw" "$p" || { echo "xz round trip failed: $p" >&2; exit 1; }
				bytes=$((bytes + $(stat -c %s "$base.xz")))
			done
			rm -f "$work"/piece.*
			continue
			;;
		zpaq)
			split -b 131072 -d -a 3 "$f" "$work/piece."
			for p in "$work"/piece.*; do
				rm -f "$base.zpaq"
				(cd "$work" && cpu "$work/enc_t" zpaq a "$base.zpaq" "$(basename "$p")" -m5 > /dev/null 2>&1)
				mkdir -p "$work/x" && rm -rf "$work/x"/*
				(cd "$work/x" && cpu "$work/dec_t" zpaq x "$base.zpaq" > /dev/null 2>&1)
				cmp -s "$work/x/$(basename "$p")" "$p" || { echo "zpaq round trip failed: $p" >&2; exit 1; }
				bytes=$((bytes + $(stat -c %s "$base.zpaq")))
			done
			rm -f "$work"/piece.*
			continue
			;;
		esac
		cmp -s "$base.raw" "$f" || { echo "$name: round trip failed: $f" >&2; exit 1; }
	done
	echo "$bytes $(cat "$work/enc_t") $(cat "$work/dec_t")"
}

[ "$codec" = 1 ] || sets=
for set in $sets; do
	raw=$(cat "$work/$set"/* | wc -c)
	nfiles=$(find "$work/$set" -type f | wc -l)
	read -r xz_bytes xz_e xz_d < <(run_coder "$set" xz)
	read -r zp_bytes zp_e zp_d < <(run_coder "$set" zpaq)
	echo
	echo "set $set: $nfiles files, $raw bytes; data: $data; CPU seconds per core (user + sys)"
	printf '%-14s %10s %7s %9s %9s %10s %10s\n' coder bytes ratio "vs xz" "vs zpaq" "comp MB/s" "dec MB/s"
	row() { # NAME BYTES ENC DEC
		awk -v n="$1" -v b="$2" -v e="$3" -v d="$4" -v r="$raw" -v x="$xz_bytes" -v z="$zp_bytes" \
			'BEGIN {
				vx = (b / x - 1) * 100; vz = (b / z - 1) * 100
				ce = e > 0 ? r / e / 1e6 : 0; cd = d > 0 ? r / d / 1e6 : 0
				printf "%-14s %10d %7.3f %+8.2f%% %+8.2f%% %10.3f %10.3f\n", n, b, r / b, vx, vz, ce, cd
			}'
	}
	if [ "$old_boa" != none ]; then
		for name in old-1 old-4; do
			read -r b e d < <(run_coder "$set" "$name")
			row "boa $name" "$b" "$e" "$d"
		done
	fi
	for l in $levels; do
		read -r b e d < <(run_coder "$set" "boa-$l")
		row "boa -$l" "$b" "$e" "$d"
	done
	row "xz -9e" "$xz_bytes" "$xz_e" "$xz_d"
	row "zpaq -m5" "$zp_bytes" "$zp_e" "$zp_d"
done

if [ "$reads" = 1 ]; then
	echo
	echo "through a mount (examples/bench-reads.sh) ..." >&2
	BOAFS_BUILD=$root/$build bash "$root/examples/bench-reads.sh"
fi
