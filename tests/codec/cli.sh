#!/usr/bin/env bash
# The `boa` command on real files: round trips (files, pipes, threads, small chunks), refusal of
# truncated and bit-flipped containers without writing output, and clear usage errors.
# usage: cli.sh BOA_BINARY   (HEP_DATA names the sample files)
set -euo pipefail
boa=$(realpath "$1")
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
echo keep > "$tmp/exists.boa"
if "$boa" compress "$lhe" "$tmp/exists.boa" 2>/dev/null; then bad "overwrote without -f"; else ok; fi
[ "$(cat "$tmp/exists.boa")" = keep ] && ok || bad "existing output changed"
# Two FILEs are never taken for IN OUT, even with -f: each is compressed to its own name
echo one > "$tmp/two-a"
echo two > "$tmp/two-b"
"$boa" compress -q -1 -f "$tmp/two-a" "$tmp/two-b" && [ "$(cat "$tmp/two-b")" = two ] &&
	[ -f "$tmp/two-a.boa" ] && [ -f "$tmp/two-b.boa" ] && ok || bad "compress -f A B overwrote B"
"$boa" decompress -q -f "$tmp/two-a.boa" "$tmp/two-b.boa" && [ "$(cat "$tmp/two-a")" = one ] &&
	cmp -s "$tmp/two-b.boa" "$tmp/two-b.boa" && [ "$(cat "$tmp/two-b")" = two ] && ok ||
	bad "decompress -f A.boa B.boa: each to its own name"

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

# zstd-like operation: default names, -k/--rm, -c, -o, -d, -t, -f, -q/-v, -V
mkdir "$tmp/z"
cp "$lhe" "$tmp/z/ev.lhe"
(cd "$tmp/z" && "$boa" compress -1 ev.lhe 2> sum) && [ -f "$tmp/z/ev.lhe.boa" ] &&
	[ -f "$tmp/z/ev.lhe" ] && ok || bad "compress FILE writes FILE.boa and keeps FILE"
# the summary line: input, sizes, ratio, speed, output
grep -Eq '^ev\.lhe: .* => .* \([0-9.]+x, [0-9.]+%\), [0-9.]+ MB/s, ev\.lhe\.boa$' "$tmp/z/sum" &&
	ok || bad "compress summary line: $(cat "$tmp/z/sum")"
if (cd "$tmp/z" && "$boa" compress -1 ev.lhe 2> /dev/null); then bad "compress overwrote FILE.boa without -f"; else ok; fi
(cd "$tmp/z" && "$boa" compress -1 -f -q ev.lhe 2> err) && [ ! -s "$tmp/z/err" ] && ok ||
	bad "-f overwrites, -q prints nothing: $(cat "$tmp/z/err")"
mv "$tmp/z/ev.lhe" "$tmp/z/orig.lhe"
(cd "$tmp/z" && "$boa" decompress ev.lhe.boa 2> sum) && cmp -s "$tmp/z/ev.lhe" "$lhe" &&
	[ -f "$tmp/z/ev.lhe.boa" ] && ok || bad "decompress FILE.boa writes FILE and keeps FILE.boa"
grep -q '^ev\.lhe\.boa: .* => .*, ev\.lhe$' "$tmp/z/sum" && ok || bad "decompress summary: $(cat "$tmp/z/sum")"
rm "$tmp/z/ev.lhe"
(cd "$tmp/z" && "$boa" compress -d -q ev.lhe.boa) && cmp -s "$tmp/z/ev.lhe" "$lhe" && ok ||
	bad "compress -d decompresses"
rm "$tmp/z/ev.lhe"
"$boa" decompress -c "$tmp/z/ev.lhe.boa" 2> /dev/null | cmp -s - "$lhe" && [ ! -e "$tmp/z/ev.lhe" ] &&
	ok || bad "decompress -c writes stdout only"
"$boa" decompress -q -o "$tmp/z/named" "$tmp/z/ev.lhe.boa" && cmp -s "$tmp/z/named" "$lhe" && ok ||
	bad "decompress -o OUT"
"$boa" decompress -t "$tmp/z/ev.lhe.boa" 2> "$tmp/z/sum" && grep -q ': OK' "$tmp/z/sum" &&
	[ ! -e "$tmp/z/ev.lhe" ] && ok || bad "decompress -t verifies and writes nothing"
cp "$tmp/z/ev.lhe.boa" "$tmp/z/flip.boa"
printf '\377' | dd of="$tmp/z/flip.boa" bs=1 seek=100 conv=notrunc 2> /dev/null
if "$boa" decompress -t "$tmp/z/flip.boa" 2> /dev/null; then bad "-t passed a damaged file"; else ok; fi
"$boa" compress -q -1 --rm "$tmp/z/named" && [ ! -e "$tmp/z/named" ] && [ -f "$tmp/z/named.boa" ] &&
	ok || bad "--rm removes the input once its output is complete"
"$boa" compress -q -1 -k "$tmp/z/orig.lhe" && [ -f "$tmp/z/orig.lhe" ] && ok || bad "-k keeps the input"
if "$boa" decompress "$tmp/z/orig.lhe" 2> "$tmp/err"; then bad "decompress of a name without .boa"; else
	grep -q 'unknown suffix' "$tmp/err" && ok || bad "no 'unknown suffix' message: $(cat "$tmp/err")"
fi
if "$boa" compress "$tmp/z/orig.lhe.boa" 2> "$tmp/err"; then bad "compress of a .boa name"; else
	grep -q 'already has' "$tmp/err" && ok || bad "no 'already has' message: $(cat "$tmp/err")"
fi
# several files, each to its own name; one failure does not stop the others, and sets the status
cp "$lhe" "$tmp/z/m1"
cp "$lhe" "$tmp/z/m2"
if "$boa" compress -q -1 "$tmp/z/m1" "$tmp/z/missing" "$tmp/z/m2" 2> /dev/null; then
	bad "a missing input among several gave status 0"
else
	[ -f "$tmp/z/m1.boa" ] && [ -f "$tmp/z/m2.boa" ] && ok || bad "several files, each to FILE.boa"
fi
"$boa" compress -v -q -1 -f "$tmp/z/m1" 2> "$tmp/err"
[ ! -s "$tmp/err" ] && ok || bad "-q after -v is quiet"
"$boa" compress -v -1 -f "$tmp/z/m1" 2> "$tmp/err" && grep -q 'level 1' "$tmp/err" && ok ||
	bad "-v names the settings: $(cat "$tmp/err")"
for v in -V --version; do
	"$boa" compress "$v" | grep -q '^boa [0-9]' && ok || bad "boa compress $v"
done
"$boa" -V | grep -q '^boa [0-9]' && ok || bad "boa -V"
"$boa" compress --help | grep -q -- '--rm' && ok || bad "compress --help lists --rm"

# on a terminal the progress bar has an ETA (script(1) gives the command one)
if command -v script > /dev/null; then
	script -qfec "$boa compress -1 -B 16K -f -o $tmp/tty.boa $root" /dev/null > "$tmp/tty.out" 2>&1 </dev/null
	grep -q 'ETA' "$tmp/tty.out" && ok || bad "no ETA in the progress bar on a terminal: $(tr '\r' '\n' < "$tmp/tty.out" | tail -3)"
	"$boa" compress -1 -B 16K -f -o "$tmp/notty.boa" "$root" 2> "$tmp/notty.err"
	! grep -q 'ETA' "$tmp/notty.err" && ok || bad "progress bar drawn when stderr is not a terminal"
fi

# With no FILE, standard input is coded to standard output (or -o), as zstd does
"$boa" compress -q -1 < "$lhe" > "$tmp/nofile.boa" && "$boa" decompress -q < "$tmp/nofile.boa" |
	cmp -s - "$lhe" && ok || bad "no FILE: stdin to stdout"
"$boa" decompress -q -o "$tmp/nofile.out" < "$tmp/nofile.boa" && cmp -s "$tmp/nofile.out" "$lhe" &&
	ok || bad "no FILE, -o OUT"
"$boa" decompress -t < "$tmp/nofile.boa" 2> "$tmp/err" && grep -q '^stdin: OK' "$tmp/err" && ok ||
	bad "no FILE, -t: $(cat "$tmp/err")"
# ... but neither reads a terminal without -f (script(1) gives the command one; timeout is a
# hang guard, sized for an ASan build on a busy machine: the refusal is immediate)
if command -v script > /dev/null; then
	for cmd in "decompress" "compress -1" "decompress -" "compress -1 - $tmp/tty-in.boa"; do
		rc=0
		timeout -k 5 60 script -qfec "$boa $cmd" /dev/null > "$tmp/tty.out" 2>&1 < /dev/null || rc=$?
		[ "$rc" -eq 1 ] && grep -q 'standard input is a terminal' "$tmp/tty.out" && ok ||
			bad "boa $cmd on a terminal: exit $rc: $(cat "$tmp/tty.out")"
	done
	[ ! -e "$tmp/tty-in.boa" ] && ok || bad "refused terminal input left an output"
fi

# -T N codes N chunks at once and writes the same bytes as -T 1; -T0 is one thread per CPU
"$boa" compress -q -1 -B 64K -T 1 -o "$tmp/t1.boa" "$root"
"$boa" compress -q -1 -B 64K -T 3 -o "$tmp/t3.boa" "$root"
"$boa" compress -q -1 -B 64K -T0 -o "$tmp/t0.boa" "$root"
cmp -s "$tmp/t1.boa" "$tmp/t3.boa" && cmp -s "$tmp/t1.boa" "$tmp/t0.boa" && ok ||
	bad "-T 3 / -T0 output differs from -T 1"
"$boa" decompress -q -T0 -c "$tmp/t3.boa" | cmp -s - "$root" && ok || bad "decompress -T0"

# An interrupted compress or decompress removes its OUT.boa-XXXXXX temp file and leaves no
# output. The input is large enough (32 MB at 64 KiB chunks) that no machine finishes before the
# signal; the test waits for the temp file to appear (a condition), not for a time.
for f in "$lhe" "$root" "$data/pylhe-testfile-hpcgen.hdf5"; do cat "$f"; done > "$tmp/seed"
while [ "$(stat -c %s "$tmp/big" 2> /dev/null || echo 0)" -lt 33554432 ]; do cat "$tmp/seed" >> "$tmp/big"; done
interrupted() { # SIGNAL OUT CMD...: starts CMD, signals it once OUT's temp file exists
	local sig=$1 out=$2 pid st=0
	shift 2
	"$@" 2> "$tmp/int.err" &
	pid=$!
	until compgen -G "$out.boa-*" > /dev/null; do
		kill -0 "$pid" 2> /dev/null || break
		sleep 0.05
	done
	kill -s "$sig" "$pid" 2> /dev/null || true
	wait "$pid" || st=$?
	[ "$st" -ne 0 ] || { bad "$sig: $* finished before the signal (exit 0)"; return; }
	if compgen -G "$out.boa-*" > /dev/null || [ -e "$out" ]; then
		bad "$sig: $* left $(ls "$(dirname "$out")")"
	else
		ok
	fi
}
interrupted INT "$tmp/big.boa" "$boa" compress -1 -B 64K "$tmp/big"
interrupted TERM "$tmp/big.boa" "$boa" compress -1 -B 64K -T 2 "$tmp/big"
# decompress: 1.5 MB in 64 KiB chunks (seconds of work on any machine), signalled as soon as its
# output's temp file exists, which is before the first chunk is decoded
"$boa" compress -q -1 -B 64K -T0 -o "$tmp/midc.boa" "$tmp/seed"
interrupted INT "$tmp/midd" "$boa" decompress -o "$tmp/midd" "$tmp/midc.boa"

# boa train: --max-time stops the run and still writes a model; bad durations are usage errors
head -c 20000 "$lhe" > "$tmp/train.dat"
"$boa" train "$tmp/train.dat" -o "$tmp/t.boam" --dim 8 --layers 1 --epochs 100000 \
	--threads 1 --max-time 1 > "$tmp/train.out" 2> "$tmp/train.err" && [ -s "$tmp/t.boam" ] &&
	grep -q 'ran out' "$tmp/train.err" && ok || bad "train --max-time: $(cat "$tmp/train.err")"
"$boa" train "$tmp/train.dat" -o "$tmp/t2.boam" --dim 8 --layers 1 --epochs 1 --threads 1 -v \
	> /dev/null 2> "$tmp/train.err" && grep -q '^epoch 1/1 .* ETA ' "$tmp/train.err" && ok ||
	bad "train -v: no ETA on the epoch line: $(cat "$tmp/train.err")"
"$boa" compress -q -4 -m "$tmp/t.boam" -o "$tmp/tm.boa" "$lhe" &&
	"$boa" decompress -q -m "$tmp/t.boam" -c "$tmp/tm.boa" | cmp -s - "$lhe" && ok ||
	bad "a model cut short by --max-time codes and decodes"
for d in 0 -1 abc 5x; do
	rc=0
	"$boa" train "$tmp/train.dat" -o "$tmp/u.boam" --max-time "$d" > /dev/null 2>&1 || rc=$?
	[ "$rc" -eq 2 ] && ok || bad "--max-time $d is not a usage error (exit $rc)"
done

# usage errors: one line, non-zero
for args in "" "frobnicate" "compress -0 a b" "decompress -5 a b" "compress -T -1 a b" "compress -T 65 a b"; do
	# shellcheck disable=SC2086
	if "$boa" $args > /dev/null 2> "$tmp/err"; then bad "'boa $args' succeeded"; else ok; fi
done
# boa train: a missing -o, a bad value and an unknown option are usage errors (exit 2)
for args in "train x" "train x -o $tmp/y --dim 12" "train x -o $tmp/y --frobnicate"; do
	# shellcheck disable=SC2086
	rc=0
	"$boa" $args > /dev/null 2> "$tmp/err" || rc=$?
	[ "$rc" -eq 2 ] && ok || bad "'boa $args' is not a usage error (exit $rc)"
done
[ ! -e "$tmp/y" ] && ok || bad "a boa train usage error wrote its output"
"$boa" decompress /nonexistent "$tmp/x" 2> "$tmp/err" && bad "missing input" ||
	{ grep -q "nonexistent" "$tmp/err" && ok || bad "missing input message"; }
"$boa" --help > "$tmp/help" && grep -q "boa compress" "$tmp/help" && ok || bad "--help"
"$boa" --version > "$tmp/version" && grep -q "^boa " "$tmp/version" && ok || bad "--version"
"$boa" bench --no-peers -l 1 "$lhe" > "$tmp/bench" && grep -q "boa-1" "$tmp/bench" && ok || bad "bench"
"$boa" bench --json -l 1 "$root" | python3 -c 'import json,sys; r=json.load(sys.stdin)["results"]; assert any(x["codec"]=="xz-9e" for x in r)' && ok || bad "bench --json"

# bench runs zpaq -m5 as a peer when the zpaq program is in PATH, on a copy in a private directory
# (removed afterwards), and checks its round trip; without zpaq the row is left out with a note.
# A 16 KiB file with a space in its name keeps this fast.
small="$tmp/small file.h5"
head -c 16384 "$data/pylhe-testfile-hpcgen.hdf5" > "$small"
mkdir "$tmp/tmp dir" "$tmp/nobin" "$tmp/fakebin"
zpaq_row() { # JSON_FILE OK: the small file's zpaq-m5 row says ok == OK (and shrinks if true)
	python3 -c 'import json, sys
r = [x for x in json.load(open(sys.argv[1]))["results"] if x["codec"] == "zpaq-m5"]
want = sys.argv[2] == "true"
assert [x["file"] for x in r] == ["small file.h5", "TOTAL"] and r[0]["ok"] == want
assert not want or 0 < r[0]["stored"] < r[0]["raw"] == 16384' "$1" "$2"
}
if command -v zpaq > /dev/null; then
	TMPDIR="$tmp/tmp dir" "$boa" bench --json -l 1 "$small" > "$tmp/zb" &&
		zpaq_row "$tmp/zb" true && ok || bad "bench: zpaq-m5 row with a verified round trip"
	TMPDIR="$tmp/tmp dir" "$boa" bench -l 1 "$small" > "$tmp/zb" &&
		grep -q "^small file.h5 *zpaq-m5 *16384 " "$tmp/zb" && ok || bad "bench: zpaq-m5 in the table"
else
	echo "zpaq is not installed: the zpaq-m5 row is not checked"
fi
PATH=$tmp/nobin "$boa" bench --json -l 1 "$small" > "$tmp/zb" 2> "$tmp/err" &&
	! grep -q zpaq "$tmp/zb" && [ "$(grep -c zpaq "$tmp/err")" -eq 1 ] && ok ||
	bad "bench without zpaq: no row, one note, success"
# a zpaq that lies, extracting other bytes or exiting non-zero, fails its row and bench
cat > "$tmp/fakebin/zpaq" << 'EOF'
#!/bin/sh
case $1 in
a) cp "$3" "$2" ;;
x) if [ "$FAKE_ZPAQ" = bytes ]; then echo other > "$5"; else cp "$2" "$5"; exit 3; fi ;;
esac
EOF
chmod +x "$tmp/fakebin/zpaq"
for lie in bytes status; do
	if FAKE_ZPAQ=$lie PATH="$tmp/fakebin:$PATH" TMPDIR="$tmp/tmp dir" \
		"$boa" bench --json -l 1 "$small" > "$tmp/zb" 2> "$tmp/err"; then
		bad "bench passed a zpaq that lies ($lie)"
	else
		zpaq_row "$tmp/zb" false && grep -q "zpaq x" "$tmp/err" && ok ||
			bad "zpaq that lies ($lie): row not failed or no message"
	fi
done
[ -z "$(ls -A "$tmp/tmp dir")" ] && ok || bad "bench left files in TMPDIR: $(ls -A "$tmp/tmp dir")"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
