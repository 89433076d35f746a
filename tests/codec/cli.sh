#!/usr/bin/env bash
# The `boa` command on real files: round trips (files, pipes, threads, small chunks), refusal of
# truncated and bit-flipped containers without writing output, and clear usage errors.
# usage: cli.sh BOA_BINARY   (HEP_DATA names the sample files)
set -euo pipefail
boa=$1
data=${HEP_DATA:?HEP_DATA not set}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

lhe=$data/pylhe-testfile-powheg-box-v2-Z.lhe
root=$data/uproot-sample-6.20.04-uncompressed.root

# round trips
for f in "$lhe" "$root" "$data/uproot-HZZ.root"; do
	"$boa" compress -1 "$f" "$tmp/a.boa" && "$boa" decompress "$tmp/a.boa" "$tmp/a.out" &&
		cmp -s "$f" "$tmp/a.out" && ok || bad "round trip $f"
	rm -f "$tmp/a.boa" "$tmp/a.out"
done
"$boa" compress -1 -T 2 -B 16K --verify - - < "$root" | "$boa" decompress -T 2 - - |
	cmp -s - "$root" && ok || bad "pipes, threads, 16K chunks"
: > "$tmp/empty"
"$boa" compress "$tmp/empty" "$tmp/e.boa" && "$boa" decompress "$tmp/e.boa" "$tmp/e.out" &&
	cmp -s "$tmp/empty" "$tmp/e.out" && ok || bad "empty file"
# compressed smaller than xz would not be checked here; only that it shrinks
size=$(stat -c %s "$lhe")
"$boa" compress -1 -f "$lhe" "$tmp/l.boa"
[ "$(stat -c %s "$tmp/l.boa")" -lt $((size / 4)) ] && ok || bad "LHE shrinks 4x"

# an existing output is kept without -f
echo keep > "$tmp/exists"
if "$boa" compress "$lhe" "$tmp/exists" 2>/dev/null; then bad "overwrote without -f"; else ok; fi
[ "$(cat "$tmp/exists")" = keep ] && ok || bad "existing output changed"

# truncated containers are refused and write nothing
"$boa" compress -1 -B 8K -f "$root" "$tmp/r.boa"
total=$(stat -c %s "$tmp/r.boa")
for cut in 0 10 16 30 100 $((total / 2)) $((total - 25)) $((total - 1)); do
	head -c "$cut" "$tmp/r.boa" > "$tmp/cut.boa"
	if "$boa" decompress "$tmp/cut.boa" "$tmp/cut.out" 2> "$tmp/err"; then
		bad "truncated at $cut accepted"
	else
		[ -e "$tmp/cut.out" ] && bad "truncated at $cut left output" || ok
		[ "$(wc -l < "$tmp/err")" -ge 1 ] || bad "no error message at $cut"
	fi
done
# trailing garbage
cp "$tmp/r.boa" "$tmp/t.boa" && printf x >> "$tmp/t.boa"
if "$boa" decompress "$tmp/t.boa" "$tmp/t.out" 2>/dev/null; then bad "trailing byte accepted"; else ok; fi

# bit flips anywhere are refused, and a flipped payload names its chunk
for off in 3 13 20 40 60 200 1000 $((total / 2)) $((total - 30)) $((total - 3)); do
	cp "$tmp/r.boa" "$tmp/f.boa"
	byte=$(od -An -tu1 -j "$off" -N1 "$tmp/f.boa" | tr -d ' ')
	printf "$(printf '\\%03o' $((byte ^ 4)))" | dd of="$tmp/f.boa" bs=1 seek="$off" conv=notrunc 2>/dev/null
	if "$boa" decompress "$tmp/f.boa" "$tmp/f.out" 2> "$tmp/err"; then
		bad "flip at $off accepted"
	else
		[ -e "$tmp/f.out" ] && bad "flip at $off left output" || ok
	fi
done
cp "$tmp/r.boa" "$tmp/f.boa"
printf '\377' | dd of="$tmp/f.boa" bs=1 seek=$((16 + 24 + 30)) conv=notrunc 2>/dev/null
if "$boa" decompress "$tmp/f.boa" "$tmp/f.out" 2> "$tmp/err"; then bad "payload flip accepted"; else
	grep -q "chunk 0" "$tmp/err" && ok || bad "error does not name chunk 0: $(cat "$tmp/err")"
fi

# usage errors: one line, non-zero
for args in "" "frobnicate" "compress" "compress -0 a b" "decompress -5 a b" "compress -T 0 a b"; do
	# shellcheck disable=SC2086
	if "$boa" $args > /dev/null 2> "$tmp/err"; then bad "'boa $args' succeeded"; else ok; fi
done
"$boa" decompress /nonexistent "$tmp/x" 2> "$tmp/err" && bad "missing input" ||
	{ grep -q "nonexistent" "$tmp/err" && ok || bad "missing input message"; }
"$boa" --help > "$tmp/help" && grep -q "boa compress" "$tmp/help" && ok || bad "--help"
"$boa" --version > "$tmp/version" && grep -q "^boa " "$tmp/version" && ok || bad "--version"
"$boa" bench --no-peers -l 1 "$lhe" > "$tmp/bench" && grep -q "boa-1" "$tmp/bench" && ok || bad "bench"
"$boa" bench --json -l 1 "$root" | python3 -c 'import json,sys; r=json.load(sys.stdin)["results"]; assert any(x["codec"]=="xz-9e" for x in r)' && ok || bad "bench --json"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
