#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz for a fixed number of executions: a smoke test that
# the parsers of untrusted bytes (segment records, index values, block payloads, model files,
# ROOT and gzip files to unwrap, unwrap plans) survive random and mutated input under ASan and
# UBSan. Builds them first (build.sh).
#
# usage: tests/fuzz/run.sh
# Environment:
#   FUZZ_RUNS      executions per target (default: 20000 for seg and codec, 5000 for idx and
#                  unwrap, 3000 for model; about a minute and a half in all on one core)
#   FUZZ_SECONDS   instead of a count, run each target this long (the long variant:
#                  FUZZ_SECONDS=600 tests/fuzz/run.sh)
#   FUZZ_OUT       build and corpus directory (default $BOAFS_BUILD/fuzz, else build/fuzz); the
#                  corpus grows from run to run in FUZZ_OUT/corpus/TARGET
# A crash leaves its input in FUZZ_OUT/crash-TARGET-* and fails; re-run it with
#   FUZZ_OUT/TARGET FUZZ_OUT/crash-TARGET-...
# Exit status 77 (skipped) when clang cannot build libFuzzer programs.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${FUZZ_OUT:-${BOAFS_BUILD:-$SRC/build}/fuzz}

rc=0
bash "$SRC/tests/fuzz/build.sh" "$OUT" >"$OUT.build.log" 2>&1 || rc=$?
if [ "$rc" -eq 77 ]; then
	cat "$OUT.build.log"
	echo "SKIP: no libFuzzer"
	exit 77
elif [ "$rc" -ne 0 ]; then
	cat "$OUT.build.log" >&2
	echo "FAIL: the fuzz targets do not build" >&2
	exit 1
fi

# Seeds, remade each run (they are cheap): inputs that reach past each parser's first checks.
seeds=$OUT/seeds
rm -rf "$seeds"
mkdir -p "$seeds"/{seg,idx,codec,model,unwrap}
python3 - "$seeds" "$SRC/codec/models/fast.boam" <<'PY'
import os, random, struct, subprocess, sys
seeds, model = sys.argv[1], sys.argv[2]
rng = random.Random(1)
def put(target, name, data):
    with open(os.path.join(seeds, target, name), "wb") as f:
        f.write(data)
def header(codec, raw_len, stored, ino, block):
    # magic, codec, version, header_len, model_id, raw_len, stored_len, checksum (fixed up by
    # the harness), ino, block, raw_xxh64
    return b"BOAR" + struct.pack("<BBHIIIIQQQ", codec, 1, 48, 0, raw_len, stored, 0, ino, block, 0)
extent = struct.pack("<BIIIIBIQQ", 1, 0, 10, 58, 10, 0, 0, 0, 0)[:40].ljust(40, b"\0")
recs = header(0, 10, 10, 2, 0) + b"0123456789" + header(1, 4096, 20, 2, 1) + rng.randbytes(20)
put("seg", "two-records", bytes([0x07]) + extent + recs)
put("seg", "two-records-nofix", bytes([0x00]) + extent + recs)
put("seg", "truncated", bytes([0x01]) + extent + recs[:-7])
for i in range(4):
    put("idx", "random%d" % i, rng.randbytes(200))
    put("idx", "likely%d" % i, bytes([i & 1]) + b"".join(
        bytes([0x80 | rng.randrange(128), rng.randrange(256), rng.choice([9, 16, 52, 72])]) +
        rng.randbytes(72) for _ in range(12)))
block = (b"event,px,py,pz\n" + b"".join(b"%d,%.3f,%.3f\n" % (i, rng.random(), rng.random())
                                       for i in range(300)))[:4096]
zstd = subprocess.run(["zstd", "-3", "-c", "-q"], input=block, capture_output=True).stdout
if zstd:
    put("codec", "zstd", bytes([1]) + struct.pack("<I", len(block))[:3] + zstd)
put("codec", "raw", bytes([0]) + struct.pack("<I", 100)[:3] + rng.randbytes(100))
def leb(n):
    out = b""
    while True:
        b, n = n & 0x7f, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out
put("codec", "boa-stored", bytes([0x83]) + b"\0\0\0" + bytes([0x10]) + leb(100) + b"\0" * 4 +
    rng.randbytes(100))
put("codec", "boa-level1", bytes([0x83]) + b"\0\0\0" + bytes([0x11]) + leb(1000) + b"\0" * 4 +
    rng.randbytes(500))
put("codec", "boa-level2", bytes([0x84]) + b"\0\0\0" + bytes([0x12]) + leb(300) + b"\0" * 8 +
    rng.randbytes(200))
m = open(model, "rb").read()
put("model", "fast", b"\x00" + m)
put("model", "fast-fixups", b"\x03" + m)
# unwrap: a small ROOT file (header, an uncompressed key, a key with a ZL block and one with two
# blocks) and a gzip file, both as their writers make them, so that mutations reach the parsers.
import gzip, zlib
def key(payload, objlen, name=b"t"):
    keylen = 26 + 3 + len(name)
    head = struct.pack(">ihiIhhii", keylen + len(payload), 4, objlen, 0, keylen, 1, 0, 0)
    return head + b"\x01x" + bytes([len(name)]) + name + payload
def zl(raw, level=1):
    c = zlib.compress(raw, level)
    return b"ZL\x08" + struct.pack("<I", len(c))[:3] + struct.pack("<I", len(raw))[:3] + c
raw1 = b"".join(struct.pack(">f", rng.random()) for _ in range(200))
raw2 = b"muon jet event " * 30
keys = key(b"uncompressed", 12) + key(zl(raw1), len(raw1)) + key(zl(raw2, 4) + zl(raw1), len(raw2) + len(raw1))
head = b"root" + struct.pack(">iii", 62600, 100, 100 + len(keys))
put("unwrap", "root", b"\x00" + head.ljust(100, b"\0") + keys)
put("unwrap", "gzip", b"\x00" + gzip.compress(block, 9))
PY

declare -A runs=([seg]=20000 [idx]=5000 [codec]=20000 [model]=3000 [unwrap]=5000)
declare -A max_len=([seg]=16384 [idx]=4096 [codec]=8192 [model]=65536 [unwrap]=8192)
failed=()
for t in seg idx codec model unwrap; do
	corpus=$OUT/corpus/$t
	mkdir -p "$corpus"
	if [ -n "${FUZZ_SECONDS:-}" ]; then
		limit=(-max_total_time="$FUZZ_SECONDS")
	else
		limit=(-runs="${FUZZ_RUNS:-${runs[$t]}}")
	fi
	start=$SECONDS
	rc=0
	(cd "$OUT" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		"./fuzz_$t" "${limit[@]}" -max_len="${max_len[$t]}" -timeout=20 -rss_limit_mb=2048 \
		-artifact_prefix="$OUT/crash-$t-" -print_final_stats=1 "$corpus" "$seeds/$t") \
		>"$OUT/fuzz_$t.log" 2>&1 || rc=$?
	stats=$(grep -E '^(#[0-9]+.*(DONE|pulse)|Done [0-9]+ runs)' "$OUT/fuzz_$t.log" | tail -n 2 | tr '\n' ' ')
	if [ "$rc" -ne 0 ]; then
		echo "FAIL fuzz_$t (exit $rc, $((SECONDS - start)) s); the end of $OUT/fuzz_$t.log:" >&2
		grep -v '^boafs' "$OUT/fuzz_$t.log" | tail -n 60 >&2
		failed+=("fuzz_$t")
	else
		echo "# fuzz_$t: $((SECONDS - start)) s: $stats(corpus $(find "$corpus" -type f | wc -l) inputs)"
	fi
done
if [ "${#failed[@]}" -gt 0 ]; then
	echo "FAIL: ${failed[*]}; inputs: $(ls "$OUT"/crash-* 2>/dev/null | tr '\n' ' ')" >&2
	exit 1
fi
