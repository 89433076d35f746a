#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang, straight from the sources (no meson):
#   fuzz_seg    segment records: seg_each_record, seg_record_read with any extent (index/seg.c)
#   fuzz_idx    index values written raw into LMDB, read by every idx_* reader (index/idx.c)
#   fuzz_codec  block payloads: codec_decode for raw, zstd, BOA and unknown ids (codec/)
#   fuzz_model  .boam model files: boa_model_load and a few predictions (codec/boa_model.c)
#   fuzz_unwrap ROOT and gzip files given to unwrap_scan, serialized plans (codec/unwrap*.c)
# with -fsanitize=fuzzer,address,undefined (UBSan aborts: -fno-sanitize-recover).
#
# usage: tests/fuzz/build.sh [OUTDIR]     OUTDIR default: $BOAFS_BUILD/fuzz, else build/fuzz
# Environment: FUZZ_CC (default clang). A target is rebuilt when a source is newer than it.
# Exit status 77 when the compiler cannot build a libFuzzer program (meson reads it as a skip).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-${BOAFS_BUILD:-$SRC/build}/fuzz}
CC=${FUZZ_CC:-clang}
mkdir -p "$OUT/obj"

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "build.sh: $CC not found" >&2
	exit 77
fi
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }\n' \
	>"$OUT/probe.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$OUT/probe.c" -o "$OUT/probe" 2>"$OUT/probe.err"; then
	echo "build.sh: $CC cannot link a libFuzzer program: $(head -n 1 "$OUT/probe.err")" >&2
	exit 77
fi

SAN=("-fsanitize=address,undefined" -fno-sanitize-recover=undefined)
CFLAGS=(-std=c17 -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
	-ffp-contract=off -fno-fast-math -I"$SRC/index" -I"$SRC/codec" -I"$OUT/obj")

# The built-in models, as meson makes them (codec/meson.build).
models_c=$OUT/obj/boa_models_data.c
if [ ! -e "$models_c" ] || [ "$SRC/codec/models/default.boam" -nt "$models_c" ] ||
	[ "$SRC/codec/models/fast.boam" -nt "$models_c" ]; then
	python3 "$SRC/codec/models/embed.py" "$models_c" "default=$SRC/codec/models/default.boam" \
		"fast=$SRC/codec/models/fast.boam"
fi

# obj SOURCE: compiles SOURCE (instrumented for coverage) unless up to date; prints the object.
obj() {
	local src=$1 o extra=()
	o=$OUT/obj/$(basename "${src%.c}").o
	# Level 2's byte loop is compiled for AVX2 as a whole on x86, as codec/meson.build does (its
	# code runs only where the CPU has AVX2); elsewhere the file compiles to nothing.
	case $src:$(uname -m) in */boa_predict_avx2.c:x86_64 | */boa_predict_avx2.c:i?86) extra=(-mavx2) ;; esac
	if [ ! -e "$o" ] || [ "$src" -nt "$o" ] ||
		[ -n "$(find "$SRC/index" "$SRC/codec" "$SRC/tests/codec" -name '*.h' -newer "$o" -print -quit)" ]; then
		"$CC" "${CFLAGS[@]}" "${extra[@]}" "${SAN[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$o" >&2
	fi
	printf '%s\n' "$o"
}

# Every codec source (the Mamba model, the mixing coder, codec.c).
codec_objs=()
for f in "$SRC"/codec/*.c "$models_c"; do
	codec_objs+=("$(obj "$f")")
done

# link NAME OBJECTS... -- LIBS...
link() {
	local name=$1 harness=$SRC/tests/fuzz/$1.c
	shift
	local -a objs=() libs=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		objs+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	libs=("$@")
	local o newer=0
	for o in "$harness" "${objs[@]}"; do
		[ "$o" -nt "$OUT/$name" ] && newer=1
	done
	if [ -x "$OUT/$name" ] && [ "$newer" -eq 0 ]; then
		echo "up to date: $OUT/$name"
		return 0
	fi
	"$CC" "${CFLAGS[@]}" "${SAN[@]}" -fsanitize=fuzzer "$harness" "${objs[@]}" "${libs[@]}" \
		-o "$OUT/$name"
	echo "built $OUT/$name"
}
link fuzz_seg "$(obj "$SRC/index/seg.c")" -- -lxxhash -lpthread
link fuzz_idx "$(obj "$SRC/index/idx.c")" -- -llmdb -lxxhash -lpthread
link fuzz_codec "${codec_objs[@]}" -- -lzstd -lxxhash -lz -llz4 -lpthread -lm
link fuzz_model "${codec_objs[@]}" -- -lzstd -lxxhash -lz -llz4 -lpthread -lm
link fuzz_unwrap "${codec_objs[@]}" "$(obj "$SRC/tests/codec/unwrap_check.c")" -- -lzstd -lxxhash -lz -llz4 -lpthread -lm
