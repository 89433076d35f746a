#!/usr/bin/env bash
# Determinism across builds: the coder built with `gcc -O0` and with `clang -O3 -march=native`
# must write byte-identical .boa files for the same input and level, and each must decode the
# other's; both must decode the files of chunk format versions 1 to 4 kept in tests/data/boa-v1
# to boa-v4 (written by the coders of those formats) to the slices they were made from. Run by meson (suite codec, test boa-cross-build) or by hand:
#   tests/codec/cross_build.sh            (BOAFS_SRC, HEP_DATA default to this checkout)
set -euo pipefail
src=${BOAFS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
data=${HEP_DATA:-$src/tests/data/hep}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

build() { # NAME CC CFLAGS BUILDTYPE
	CC=$2 meson setup "$work/$1" "$src" --buildtype="$4" -Dc_args="$3" -Dwerror=false \
		-Db_ndebug=true > "$work/$1.log" 2>&1 || { cat "$work/$1.log"; exit 1; }
	ninja -C "$work/$1" boa >> "$work/$1.log" 2>&1 || { tail -50 "$work/$1.log"; exit 1; }
}
build gcc-O0 gcc "-O0" plain
build clang-O3 clang "-O3 -march=native" release
a=$work/gcc-O0/boa
b=$work/clang-O3/boa

levels="1 2 3 4" # the levels without the Mamba, then one with it
# The Mamba level runs with the small built-in `fast` model given as a file: at -O0 the default
# model would make this test several times slower, and the model path is the same code.
fast=(-m "$src/codec/models/fast.boam")
for l in 5 6 7 8 9; do
	if head -c 100 "$data/pylhe-testfile-hpcgen.hdf5" | "$a" compress -$l "${fast[@]}" - - > /dev/null 2>&1; then
		levels="$levels $l"
		break # one Mamba level: the model path is shared by all of them
	fi
done
echo "levels: $levels"

pass=0 fail=0
# The files of earlier formats: the slices listed in MANIFEST, concatenated, coded by the coder
# of that format (format 1: levels 1 and 4; format 2: levels 2 and 7; formats 3 and 4: level 2).
for version in 1 2 3 4; do
	old=$src/tests/data/boa-v$version
	awk '!seen[$2 " " $3]++ { print $2, $3, $4 }' "$old/MANIFEST" | while read -r source offset length; do
		dd if="$src/tests/data/hep/$source" iflag=skip_bytes,count_bytes skip="$offset" \
			count="$length" status=none
	done > "$work/old.raw"
	for file in "$old"/slices.l*.boa; do
		for bin in "$a" "$b"; do
			if "$bin" decompress -f "$file" "$work/old.out" 2> "$work/old.err" &&
				cmp -s "$work/old.out" "$work/old.raw"; then
				pass=$((pass + 1))
			elif grep -q -i model "$work/old.err"; then
				echo "skip: $(basename "$file") of format $version: no model in this build"
			else
				echo "FAIL: $(basename "$file") of format $version: $bin does not decode it to its slices"
				fail=$((fail + 1))
			fi
		done
	done
done

for f in "$data"/*; do
	case $f in *.md) continue ;; esac
	for l in $levels; do
		in=$f
		model=()
		if [ "$l" -ge 5 ]; then # Mamba levels at -O0 are slow: a 48 KiB slice
			head -c 49152 "$f" > "$work/slice"
			in=$work/slice
			model=("${fast[@]}")
		fi
		"$a" compress -$l "${model[@]}" -B 64K "$in" "$work/a.boa" -f
		"$b" compress -$l "${model[@]}" -B 64K "$in" "$work/b.boa" -f
		if cmp -s "$work/a.boa" "$work/b.boa"; then
			pass=$((pass + 1))
		else
			echo "FAIL: $(basename "$f") level $l: gcc -O0 and clang -O3 outputs differ"
			fail=$((fail + 1))
			continue
		fi
		"$a" decompress "${model[@]}" -f "$work/b.boa" "$work/a.out" &&
			"$b" decompress "${model[@]}" -f "$work/a.boa" "$work/b.out" &&
			cmp -s "$work/a.out" "$in" && cmp -s "$work/b.out" "$in" &&
			pass=$((pass + 1)) || { echo "FAIL: $(basename "$f") level $l: cross decode"; fail=$((fail + 1)); }
	done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
