#!/usr/bin/env bash
# boa fsck, boa gc, boa stats and boa models on real archives:
# - a clean archive passes fsck (exit 0) and stats counts what was written;
# - a byte flipped in a stored record is reported by fsck (exit 4) with the inode, the file's
#   path and the block; reads of that block fail with EIO; fsck --repair drops it and the
#   archive is clean again, the other files intact;
# - gc refuses a mounted archive; after deleting files it frees their segments, fsck stays
#   clean and the surviving files are identical;
# - a block that BOA does not shrink by enough stays zstd after recompression.
. "$(dirname "$0")/lib.sh"
require_boafs
require_boa

t=$(it_tmpdir)
mkdir "$t/mnt"
a=$t/archive
m=$t/mnt

# A small segment size so that deleting files leaves whole segments dead.
export BOAFS_SEG_ROLL_BYTES=$((256 * 1024))
mount_boafs "$a" "$m" -o recompress=off
cp "$HEP_DATA"/*.lhe "$HEP_DATA"/*.root "$m/"
make_data "$m/victim" $((600 * 1024))
cp "$m/victim" "$t/victim.ref"
unmount_boafs "$m"

out=$("$BOA" fsck "$a") || fail "fsck of a fresh archive failed: $out"
note "$out"
"$BOA" stats --json "$a" >"$t/stats.json"
python3 - "$t/stats.json" <<'PY' || fail "stats does not count the files"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["files"] == 7, d["files"]
assert d["stored_bytes"] < d["logical_bytes"], d
assert d["codecs"]["zstd"]["blocks"] > 0 and d["codecs"]["raw"]["blocks"] > 0, d["codecs"]
PY
"$BOA" models "$a" | grep -q current || fail "boa models lists no current model"

# Damage block 2 of "victim": find its record through the segment headers (ino, block fields).
victim_ino=$(python3 - "$a" <<'PY'
import os, struct, sys
seg = os.path.join(sys.argv[1], "seg")
best = None
for name in sorted(os.listdir(seg)):
    data = open(os.path.join(seg, name), "rb").read()
    off = 0
    while off + 48 <= len(data) and data[off:off + 4] == b"BOAR":
        stored = struct.unpack_from("<I", data, off + 16)[0]
        ino, block = struct.unpack_from("<QQ", data, off + 24)
        if best is None or ino > best:
            best = ino
        off += 48 + stored
print(best)
PY
)
python3 - "$a" "$victim_ino" <<'PY' || fail "no record of block 2 of inode $victim_ino found"
import os, struct, sys
seg, want = os.path.join(sys.argv[1], "seg"), int(sys.argv[2])
for name in sorted(os.listdir(seg)):
    path = os.path.join(seg, name)
    data = bytearray(open(path, "rb").read())
    off = 0
    while off + 48 <= len(data) and data[off:off + 4] == b"BOAR":
        stored = struct.unpack_from("<I", data, off + 16)[0]
        ino, block = struct.unpack_from("<QQ", data, off + 24)
        if ino == want and block == 2:
            data[off + 48 + stored // 2] ^= 0x5A
            open(path, "wb").write(data)
            sys.exit(0)
        off += 48 + stored
sys.exit(1)
PY
rc=0
out=$("$BOA" fsck "$a") || rc=$?
assert_eq 4 "$rc" "fsck exit status on a damaged archive"
echo "$out" | grep -q "inode $victim_ino /victim: block 2:" ||
	fail "fsck does not name the damaged block and file: $out"
[ "$(echo "$out" | grep -c '^inode ')" -eq 1 ] || fail "fsck reports more than the damaged block: $out"

mount_boafs "$a" "$m" -o recompress=off
expect_errno EIO "f = open('$m/victim', 'rb'); f.seek(2 * 131072); f.read(131072)"
cmp "$HEP_DATA/pylhe-testfile-pr29.lhe" "$m/pylhe-testfile-pr29.lhe" ||
	fail "an undamaged file changed"
rc=0
"$BOA" gc "$a" >/dev/null 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "boa gc ran on a mounted archive"
rc=0
"$BOA" fsck --repair "$a" >/dev/null 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "boa fsck --repair ran on a mounted archive"
unmount_boafs "$m"

rc=0
"$BOA" fsck --repair "$a" >"$t/repair.txt" || rc=$?
assert_eq 1 "$rc" "fsck --repair exit status (errors corrected)"
grep -q "inode $victim_ino block 2 dropped" "$t/repair.txt" || fail "repair did not drop the block"
out=$("$BOA" fsck "$a") || fail "fsck after repair: $out"

# gc: delete most files, compact, verify the rest.
mount_boafs "$a" "$m" -o recompress=off
rm "$m"/*.lhe "$m/uproot-HZZ.root"
unmount_boafs "$m"
before=$(du -sb "$a/seg" | cut -f1)
"$BOA" gc --threshold 0.2 "$a" >"$t/gc.txt" || fail "gc failed: $(cat "$t/gc.txt")"
after=$(du -sb "$a/seg" | cut -f1)
note "gc: $(cat "$t/gc.txt"); seg/ $before -> $after bytes"
[ "$after" -lt "$before" ] || fail "gc freed nothing ($before -> $after)"
out=$("$BOA" fsck "$a") || fail "fsck after gc: $out"
mount_boafs "$a" "$m" -o recompress=off
for f in uproot-Zmumu-uncompressed.root uproot-sample-5.23.02-uncompressed.root \
	uproot-sample-6.20.04-uncompressed.root; do
	cmp "$HEP_DATA/$f" "$m/$f" || fail "$f differs after gc"
done
# The damaged block reads as zeros after repair; the rest of the file is as written.
cmp -i 0:0 -n $((2 * 131072)) "$t/victim.ref" "$m/victim" || fail "victim blocks 0-1 changed"
cmp -i $((3 * 131072)):$((3 * 131072)) "$t/victim.ref" "$m/victim" || fail "victim tail changed"
unmount_boafs "$m"

# A block zstd stores in a few dozen bytes: BOA cannot beat it by 1/32, so it stays zstd.
a2=$t/archive2
mount_boafs "$a2" "$m" -o recompress=now,boa_level=1
python3 -c "import sys; sys.stdout.buffer.write(b'event 0001 ok; ' * 9000)" >"$m/repetitive"
cp "$HEP_DATA/pylhe-testfile-powheg-box-v2-Z.lhe" "$m/"
wait_for 300 eval '[ "$("$BOA" stats --json "$a2" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"pending_blocks\"])")" = 0 ]' ||
	fail "recompression did not finish"
"$BOA" stats --json "$a2" >"$t/stats2.json"
python3 - "$t/stats2.json" <<'PY' || fail "expected the repetitive block to stay zstd and the LHE blocks to become BOA"
import json, sys
c = json.load(open(sys.argv[1]))["codecs"]
assert c["zstd"]["blocks"] >= 1, c
assert c["boa"]["blocks"] >= 1, c
PY
python3 -c "import sys; sys.stdout.buffer.write(b'event 0001 ok; ' * 9000)" | cmp - "$m/repetitive" ||
	fail "repetitive file differs"
cmp "$HEP_DATA/pylhe-testfile-powheg-box-v2-Z.lhe" "$m/pylhe-testfile-powheg-box-v2-Z.lhe" ||
	fail "LHE file differs after recompression"
unmount_boafs "$m"
out=$("$BOA" fsck "$a2") || fail "fsck after recompression: $out"
note "ok"
