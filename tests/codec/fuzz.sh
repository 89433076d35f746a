#!/usr/bin/env bash
# Fuzzes the BOA chunk decoder (and the level-1 encoder's round trip) with libFuzzer under ASan
# and UBSan for a fixed number of runs, seeded with real chunks made from the HEP samples.
# usage: tests/codec/fuzz.sh [RUNS]   (default 20000; exit status non-zero on any finding)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
data=${HEP_DATA:-$src/tests/data/hep}
runs=${1:-20000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cc=${CC_FUZZ:-clang}
flags="-g -O1 -std=c17 -D_GNU_SOURCE -DBOA_HAVE_MODEL=0 -ffp-contract=off -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$src/codec"
coder="boa.c boa_predict.c mix_ac.c mix_cm.c mix_mixer.c mix_tables.c"
# shellcheck disable=SC2086
$cc $flags "$src/tests/codec/fuzz_decompress.c" $(for f in $coder; do echo "$src/codec/$f"; done) \
	-lxxhash -o "$work/fuzz"

# seeds: small real chunks (mode 0) and raw slices (mode 1)
mkdir -p "$work/corpus"
cat > "$work/seed.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include "boa.h"
int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		unsigned char raw[500], enc[500 + 64], hdr[3];
		size_t n = f ? fread(raw, 1, sizeof(raw), f) : 0, len;
		char name[64];
		FILE *o;
		if (f)
			fclose(f);
		if (!n || boa_encode(NULL, 1, raw, n, enc, sizeof(enc), &len))
			continue;
		hdr[0] = 0, hdr[1] = (unsigned char)n, hdr[2] = (unsigned char)(n >> 8);
		snprintf(name, sizeof(name), "chunk%d", i);
		o = fopen(name, "wb");
		fwrite(hdr, 1, 3, o), fwrite(enc, 1, len, o), fclose(o);
		hdr[0] = 1;
		snprintf(name, sizeof(name), "raw%d", i);
		o = fopen(name, "wb");
		fwrite(hdr, 1, 3, o), fwrite(raw, 1, n, o), fclose(o);
	}
	return 0;
}
C
# shellcheck disable=SC2086
cc -O1 -std=c17 -D_GNU_SOURCE -DBOA_HAVE_MODEL=0 -I"$src/codec" "$work/seed.c" \
	$(for f in $coder; do echo "$src/codec/$f"; done) -lxxhash -o "$work/seed"
(cd "$work/corpus" && "$work/seed" "$data"/*)
"$work/fuzz" -runs="$runs" -max_len=512 -seed=1 "$work/corpus" 2>&1 | tail -5
echo "fuzz: $runs runs, no finding"
