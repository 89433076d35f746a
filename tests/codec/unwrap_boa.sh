#!/usr/bin/env bash
# `boa compress` of ROOT and gzip files stores their zlib/LZ4 streams unwrapped (container
# version 2) and `boa decompress` re-creates them byte for byte; --no-unwrap and files with
# nothing to unwrap stay version 1; a damaged plan is refused and writes nothing.
# usage: unwrap_boa.sh BOA_BINARY   (BOAFS_SRC names the source tree, for tests/data/rootc)
set -euo pipefail
boa=$1
data=${BOAFS_SRC:?BOAFS_SRC not set}/tests/data/rootc
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
version() { od -An -tu1 -j4 -N1 "$1" | tr -d ' '; }

# A small gzip file as Python's gzip module writes it in one go (level 9, a file name in the
# header). Written through a text wrapper instead, it would hold a sync flush at close, which no
# single deflate call re-creates: such a stream stays as it is.
python3 -c 'import gzip, sys
text = "".join("<event> %d 1 %.6e %.6e\n" % (i, i * 0.37, 1.0 / (i + 1)) for i in range(4000))
with gzip.open(sys.argv[1], "wb") as f: f.write(text.encode())' "$tmp/events.lhe.gz"

# The small samples only: boa -1 codes about a megabyte a second, slower under ASan.
for f in "$data/uproot-Zmumu-zlib.root" "$data/uproot-Zmumu-lz4.root" "$tmp/events.lhe.gz"; do
	name=$(basename "$f")
	"$boa" compress -q -1 -f "$f" "$tmp/a.boa" || { bad "compress $name"; continue; }
	[ "$(version "$tmp/a.boa")" = 2 ] && ok || bad "$name: not stored unwrapped"
	[ "$(stat -c %s "$tmp/a.boa")" -lt "$(stat -c %s "$f")" ] && ok || bad "$name: no smaller"
	"$boa" decompress -q -f "$tmp/a.boa" "$tmp/a.out" && cmp -s "$f" "$tmp/a.out" && ok ||
		bad "$name: round trip"
	"$boa" decompress -q -t "$tmp/a.boa" && ok || bad "$name: -t"
	"$boa" compress -q -1 -f --no-unwrap "$f" "$tmp/b.boa"
	[ "$(version "$tmp/b.boa")" = 1 ] && ok || bad "$name: --no-unwrap still unwrapped"
	rm -f "$tmp/a.out"
done

# Nothing to unwrap (ZSTD baskets): version 1, as before.
"$boa" compress -q -1 -f "$data/uproot-Zmumu-zstd.root" "$tmp/z.boa"
[ "$(version "$tmp/z.boa")" = 1 ] && ok || bad "zstd ROOT file stored as version 2"

# A damaged plan (a byte in the middle of it; the plan follows the 16-byte header and its
# 4-byte length) is refused, and no output is left behind.
"$boa" compress -q -1 -f "$data/uproot-Zmumu-lz4.root" "$tmp/a.boa"
plen=$(od -An -tu4 -j16 -N4 "$tmp/a.boa" | tr -d ' ')
at=$((20 + plen / 2))
printf "$(printf '\\%03o' $(( ($(od -An -tu1 -j$at -N1 "$tmp/a.boa") + 1) % 256 )))" |
	dd of="$tmp/a.boa" bs=1 seek=$at conv=notrunc status=none
if "$boa" decompress -q -f "$tmp/a.boa" "$tmp/a.out" 2>"$tmp/err"; then
	bad "damaged plan accepted"
else
	grep -q "corrupt unwrap plan" "$tmp/err" && ok || bad "damaged plan: $(cat "$tmp/err")"
fi
[ ! -e "$tmp/a.out" ] && ok || bad "output left after a damaged plan"
# Cut inside the plan.
"$boa" compress -q -1 -f "$data/uproot-Zmumu-lz4.root" "$tmp/a.boa"
head -c 40 "$tmp/a.boa" >"$tmp/cut.boa"
if "$boa" decompress -q -f "$tmp/cut.boa" "$tmp/a.out" 2>/dev/null; then bad "cut plan accepted"; else ok; fi

# boa bench shows what compress stores: a boa-1-unwrap row, smaller than boa-1 for an LZ4 file.
"$boa" bench --no-peers -l 1 "$data/uproot-Zmumu-lz4.root" >"$tmp/bench"
plain=$(awk '$2 == "boa-1" && $1 != "TOTAL" { print $4 }' "$tmp/bench")
unw=$(awk '$2 == "boa-1-unwrap" && $1 != "TOTAL" { print $4 }' "$tmp/bench")
[ -n "$plain" ] && [ -n "$unw" ] && [ "$unw" -lt "$plain" ] && ok ||
	bad "bench: boa-1-unwrap row ($unw) not below boa-1 ($plain)"

echo "unwrap_boa: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
