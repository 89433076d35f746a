#!/usr/bin/env bash
# Unwrapped files (issue 10): the background pool stores the already-compressed ROOT and gzip
# files of tests/data/rootc as their unwrapped bytes (zstd -19 here, BOA for one file), and every
# file reads back byte-identical by read(2), random pread (O_DIRECT too) and mmap, live and after a
# remount. A damaged stream block gives EIO with a log line naming the inode; a faked drift of
# zlib refuses the files that need zlib and nothing else; an overwrite and a truncate in the middle
# of an unwrapped file read back right; ROOT files with a cut or garbage key table are stored as
# they are; boa fsck regenerates every unwrapped file.
. "$(dirname "$0")/lib.sh"
require_boafs
[ -x "$PREAD_CHECK" ] || fail "pread_check not built: $PREAD_CHECK"
rootc=$BOAFS_SRC/tests/data/rootc
boa=$BOAFS_BUILD/boa
[ -x "$boa" ] || fail "boa not built: $boa"
# Bound for the pool to unwrap the files: sized for an ASan build on a loaded 2-core machine
# (zstd -19 of 8 MB of unwrapped bytes and a deflate -9 of the 6 MB LHE file, at nice 19).
wait_s=${BOAFS_UNWRAP_WAIT:-400}

t=$(it_tmpdir)
mkdir "$t/mnt" "$t/ref"
m=$t/mnt
a=$t/archive
cp "$rootc"/*.root "$rootc"/*.gz "$t/ref/"
# Two ROOT files whose key table is cut off or garbage: scanned, found damaged, kept as they are.
python3 - "$rootc/uproot-Zmumu-zlib.root" "$t/ref" <<'PY'
import random, sys
d = open(sys.argv[1], "rb").read()
open(sys.argv[2] + "/cut-keys.root", "wb").write(d[: len(d) * 6 // 10])
g, r = bytearray(d), random.Random(1)
for i in range(len(d) * 7 // 10, len(d) - 100):
    g[i] = r.randrange(256)
open(sys.argv[2] + "/garbage-keys.root", "wb").write(bytes(g))
PY

daemon_log() { cat "${_it_log[$(realpath -m -- "$m")]}"; }
ino_of() { stat -c %i -- "$m/$1"; }
# The files that zstd -19 of their unwrapped bytes shrinks by more than 1/16 (the others are
# tried and kept plain: the ZSTD and LZMA files have nothing to unwrap, the issue-1070 baskets
# hold random doubles that zstd barely shrinks once unwrapped; Zmumu's doubles are short
# decimals, which the DEC8 filter stores as mantissa and exponent).
unwrapped=(uproot-Zmumu-zlib.root uproot-Zmumu-lz4.root uproot-issue121.root
	uproot-mc10events.root pylhe-testfile-madgraph5-3.5.8-pp_to_jj.lhe.gz)

all_logged() { # PATTERN-FORMAT FILES...: every file's inode has a matching daemon log line
	local fmt=$1 f
	shift
	for f in "$@"; do
		# shellcheck disable=SC2059
		daemon_log | grep -q "$(printf "$fmt" "$(ino_of "$f")")" || return 1
	done
}

check_all() { # WHAT: every file reads back exactly, whole, by random pread and by mmap
	local f
	for f in "$t"/ref/*; do
		cmp "$f" "$m/${f##*/}" || fail "$1: ${f##*/} differs (read)"
	done
	for f in "${unwrapped[@]}"; do
		"$PREAD_CHECK" -n 300 -s 11 -m 5000 "$m/$f" "$t/ref/$f" || fail "$1: $f pread"
		"$PREAD_CHECK" -d -n 100 -s 12 "$m/$f" "$t/ref/$f" || fail "$1: $f O_DIRECT pread"
	done
	python3 - "$m" "$t/ref" "${unwrapped[@]}" <<'PY' || fail "$1: mmap"
import mmap, sys
for name in sys.argv[3:]:
    with open(sys.argv[1] + "/" + name, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        want = open(sys.argv[2] + "/" + name, "rb").read()
        assert mm[:] == want, name + " mapped bytes differ"
        assert mm[len(want) // 2 : len(want) // 2 + 4096] == want[len(want) // 2 : len(want) // 2 + 4096]
        mm.close()
PY
}

mount_boafs "$a" "$m" -o recompress=off
cp "$t"/ref/* "$m/"
plain_stored=0
for f in "${unwrapped[@]}"; do
	plain_stored=$((plain_stored + $(stored_bytes "$m/$f")))
done
remount_boafs "$a" "$m" -o recompress=now,unwrap=zstd,threads=2
wait_for "$wait_s" all_logged 'inode %s: unwrapped' "${unwrapped[@]}" ||
	fail "the pool did not unwrap ${unwrapped[*]} in ${wait_s}s"
wait_for 60 all_logged 'inode %s: ROOT file, damaged' cut-keys.root garbage-keys.root ||
	fail "damaged ROOT files not reported"
daemon_log | grep 'unwrapped\|damaged' | sed 's/^/# /'
for f in cut-keys.root garbage-keys.root uproot-Zmumu-zstd.root uproot-Zmumu-lzma.root; do
	! all_logged 'inode %s: unwrapped' "$f" || fail "$f was unwrapped"
done
check_all "live"
now_stored=0
for f in "${unwrapped[@]}"; do
	now_stored=$((now_stored + $(stored_bytes "$m/$f")))
done
note "unwrapped files: $plain_stored bytes stored plain, $now_stored unwrapped"
[ "$now_stored" -lt "$plain_stored" ] || fail "unwrapping did not shrink the files"

# After a remount, with the pool off; then offline: fsck regenerates them, stats counts them.
remount_boafs "$a" "$m" -o recompress=off
check_all "after remount"
# boa stats PATH counts a subtree's unwrapped files (which have no extents of their logical
# blocks): one file's figures are its own, and the one-file subtrees add up to the archive's.
"$boa" stats --json "$a" >"$t/stats"
for f in "$t"/ref/*; do
	"$boa" stats --json --sample 0 "$m/${f##*/}" >"$t/stats-${f##*/}" || fail "stats ${f##*/}"
	echo "${f##*/} $(file_size "$f") $(stored_bytes "$m/${f##*/}")" >>"$t/sizes"
done
python3 - "$t" "${unwrapped[@]}" <<'PY' || fail "boa stats PATH of unwrapped files"
import json, sys
d, unwrapped = sys.argv[1], sys.argv[2:]
whole = json.load(open(d + "/stats"))
keys = ("logical_bytes", "stored_bytes", "blocks", "files")
sums = dict.fromkeys(keys, 0)
codecs = {c: dict.fromkeys(v, 0) for c, v in whole["codecs"].items()}
uw = dict.fromkeys(whole["unwrapped"], 0)
for line in open(d + "/sizes"):
    name, size, du = line.split()
    s = json.load(open(d + "/stats-" + name))
    u = s["unwrapped"]
    for k in keys:
        sums[k] += s[k]
    for c, v in s["codecs"].items():
        for k in ("blocks", "logical_bytes", "stored_bytes"):
            codecs[c][k] += v[k]
    for k in uw:
        uw[k] += u[k]
    if name in unwrapped:
        assert u["files"] == 1 and u["logical_bytes"] == int(size), (name, u)
        assert s["logical_bytes"] == int(size) and s["blocks"] == 0, (name, s)
        assert s["stored_bytes"] == u["stored_bytes"] > 0, (name, s)
        # st_blocks rounds the stored bytes up to 512
        assert int(du) - 512 < s["stored_bytes"] <= int(du), (name, s["stored_bytes"], du)
        assert 0 < u["stored_bytes"] < u["stored_before_bytes"] < u["unwrapped_bytes"], u
    else:
        assert u["files"] == 0 and u["stored_bytes"] == 0, (name, u)
for k in keys:
    assert sums[k] == whole[k], (k, sums[k], whole[k])
for c in codecs:
    for k in ("blocks", "logical_bytes", "stored_bytes"):
        assert codecs[c][k] == whole["codecs"][c][k], (c, k, codecs[c][k], whole["codecs"][c])
for k in ("files", "logical_bytes", "unwrapped_bytes", "stored_bytes", "stored_before_bytes"):
    assert uw[k] == whole["unwrapped"][k], (k, uw[k], whole["unwrapped"])
PY
"$boa" stats --sample 0 "$m/uproot-Zmumu-lz4.root" >"$t/stats.txt" || fail "stats (text)"
grep -q '^unwrapped: 1 files, logical 207.83 KiB, stored ' "$t/stats.txt" ||
	{ cat "$t/stats.txt"; fail "text stats of one unwrapped file: no unwrapped line"; }
unmount_boafs "$m"
"$boa" fsck "$a" >"$t/fsck" || { cat "$t/fsck"; fail "fsck of the unwrapped archive"; }
grep -q "^${#unwrapped[@]} unwrapped files regenerated" "$t/fsck" ||
	{ cat "$t/fsck"; fail "fsck did not regenerate ${#unwrapped[@]} files"; }
python3 - "$t/stats" "${#unwrapped[@]}" <<'PY' || fail "stats --json unwrapped"
import json, sys
u = json.load(open(sys.argv[1]))["unwrapped"]
assert u["files"] == int(sys.argv[2]), u
assert 0 < u["stored_bytes"] < u["stored_before_bytes"] < u["unwrapped_bytes"], u
PY

# fsck under a faked drift of zlib: the zlib files do not regenerate, which --repair cannot fix
# (exit 4, nothing changed: without the drift the archive is clean again).
rc=0
BOAFS_TEST_UNWRAP_DRIFT=zlib "$boa" fsck --repair "$a" >"$t/fsck" 2>/dev/null || rc=$?
[ "$rc" -eq 4 ] || { cat "$t/fsck"; fail "fsck --repair under a zlib drift: exit $rc, not 4"; }
grep -q "/uproot-issue121.root: unwrapped file: blocks 0-2 .* not regenerate" "$t/fsck" ||
	{ cat "$t/fsck"; fail "fsck under a zlib drift did not name the zlib file's blocks"; }
"$boa" fsck "$a" >"$t/fsck" || { cat "$t/fsck"; fail "fsck after --repair under a drift"; }

# A faked drift of zlib: the zlib-dependent files are refused at open, lz4 and plain ones read.
export BOAFS_TEST_UNWRAP_DRIFT=zlib
mount_boafs "$a" "$m" -o recompress=off
unset BOAFS_TEST_UNWRAP_DRIFT
daemon_log | grep -q 'need zlib .* are refused' || fail "no message naming zlib"
expect_errno EIO "open('$m/uproot-issue121.root', 'rb')"
expect_errno EIO "open('$m/pylhe-testfile-madgraph5-3.5.8-pp_to_jj.lhe.gz', 'rb')"
cmp "$t/ref/uproot-Zmumu-zstd.root" "$m/uproot-Zmumu-zstd.root" || fail "plain file under drift"
unmount_boafs "$m"
# LZ4: its ROOT file is refused; the gzip file, which needs only zlib, reads.
export BOAFS_TEST_UNWRAP_DRIFT=lz4
mount_boafs "$a" "$m" -o recompress=off
unset BOAFS_TEST_UNWRAP_DRIFT
daemon_log | grep -q 'need lz4 .* are refused' || fail "no message naming lz4"
expect_errno EIO "open('$m/uproot-Zmumu-lz4.root', 'rb')"
cmp "$t/ref/pylhe-testfile-madgraph5-3.5.8-pp_to_jj.lhe.gz" \
	"$m/pylhe-testfile-madgraph5-3.5.8-pp_to_jj.lhe.gz" || fail "gzip file under lz4 drift"
remount_boafs "$a" "$m" -o recompress=off
cmp "$t/ref/uproot-issue121.root" "$m/uproot-issue121.root" || fail "zlib file after the drift"

# An overwrite in the middle, a truncate and a punched hole turn the file back into plain blocks,
# exactly (Zmumu-zlib: a reordered plan with filtered pieces).
for f in uproot-mc10events.root uproot-Zmumu-zlib.root; do
	python3 - "$m/$f" "$t/ref/$f" <<'PY' || fail "overwrite $f"
import os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_WRONLY)
    os.pwrite(fd, b"overwritten in the middle" * 40, os.fstat(fd).st_size // 2 - 500)
    os.close(fd)
PY
	cmp "$t/ref/$f" "$m/$f" || fail "after the overwrite of $f"
done
truncate -s 300000 "$m/uproot-issue121.root" "$t/ref/uproot-issue121.root"
cmp "$t/ref/uproot-issue121.root" "$m/uproot-issue121.root" || fail "after the truncate"
# SEEK_DATA and SEEK_HOLE see an unwrapped file as all data (cp and tar rely on them), and a hole
# punched into one turns it plain first.
python3 - "$m/uproot-Zmumu-lz4.root" <<'PY' || fail "SEEK_DATA/SEEK_HOLE on an unwrapped file"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
assert os.lseek(fd, 1000, os.SEEK_DATA) == 1000
assert os.lseek(fd, 1000, os.SEEK_HOLE) == size
PY
lhe=pylhe-testfile-madgraph5-3.5.8-pp_to_jj.lhe.gz
fallocate -p -o 200000 -l 300000 "$m/$lhe" || fail "punching a hole into an unwrapped file"
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY); os.pwrite(fd, bytes(300000), 200000)' \
	"$t/ref/$lhe"
cmp "$t/ref/$lhe" "$m/$lhe" || fail "after the punched hole"
remount_boafs "$a" "$m" -o recompress=off
cmp "$t/ref/uproot-mc10events.root" "$m/uproot-mc10events.root" || fail "overwrite, remounted"
cmp "$t/ref/uproot-Zmumu-zlib.root" "$m/uproot-Zmumu-zlib.root" || fail "overwrite, remounted"
cmp "$t/ref/uproot-issue121.root" "$m/uproot-issue121.root" || fail "truncate, remounted"
cmp "$t/ref/$lhe" "$m/$lhe" || fail "punched hole, remounted"
cmp "$t/ref/uproot-Zmumu-lz4.root" "$m/uproot-Zmumu-lz4.root" || fail "lz4 file, remounted"
ino=$(ino_of uproot-Zmumu-lz4.root)
unmount_boafs "$m"

# A damaged stream block: one payload byte of the LZ4 file's first stream record flipped.
python3 - "$a/seg" "$ino" <<'PY' || fail "could not damage a stream record"

import glob, struct, sys
# Records (index/FORMAT.md): 48-byte header: magic, codec u8, version u8, header_len u16,
# model u32, raw_len u32, stored_len u32, xxh32 u32, ino u64, block u64, raw_xxh64 u64.
found = 0
for path in sorted(glob.glob(sys.argv[1] + "/*.seg")):
    data = bytearray(open(path, "rb").read())
    off = 0
    while off + 48 <= len(data) and data[off:off + 4] == b"BOAR":
        stored, = struct.unpack_from("<I", data, off + 16)
        ino, block = struct.unpack_from("<QQ", data, off + 24)
        if block == 1 << 62 and ino == int(sys.argv[2]):
            data[off + 48 + stored // 2] ^= 0x40
            found += 1
        off += 48 + stored
    open(path, "r+b").write(data)
sys.exit(0 if found else "no stream record of inode %s found" % sys.argv[2])
PY
mount_boafs "$a" "$m" -o recompress=off
expect_errno EIO "open('$m/uproot-Zmumu-lz4.root', 'rb').read()"
daemon_log | grep -q "inode $ino block $((1 << 62))" || fail "no log line naming the block"
cmp "$t/ref/uproot-Zmumu-zstd.root" "$m/uproot-Zmumu-zstd.root" || fail "others after damage"
unmount_boafs "$m"
# fsck names the file, its damaged stream record and the logical blocks that do not regenerate
# (exit 4). --repair has no repair for them that invents nothing: it leaves the file as it is,
# says so, and exits 4; the file then reads as before: EIO for those blocks, right bytes elsewhere.
lz4=uproot-Zmumu-lz4.root
rc=0
"$boa" fsck "$a" >"$t/fsck" 2>/dev/null || rc=$?
[ "$rc" -eq 4 ] || { cat "$t/fsck"; fail "fsck of a damaged stream record: exit $rc, not 4"; }
grep -q "^inode $ino /$lz4: unwrapped file: stream block 0: .* is damaged" "$t/fsck" ||
	{ cat "$t/fsck"; fail "fsck did not name the damaged stream block"; }
grep -Eq "^inode $ino /$lz4: unwrapped file: blocks? [0-9-]+ .* not regenerate" "$t/fsck" ||
	{ cat "$t/fsck"; fail "fsck did not name the blocks that do not regenerate"; }
rc=0
"$boa" fsck --repair "$a" >"$t/repair" 2>/dev/null || rc=$?
[ "$rc" -eq 4 ] || { cat "$t/repair"; fail "fsck --repair of an unwrapped file: exit $rc, not 4"; }
grep -q "^2 problems left as they are: an unwrapped file" "$t/repair" ||
	{ cat "$t/repair"; fail "fsck --repair did not say what it left"; }
! grep -q "^repaired: inode $ino " "$t/repair" || fail "fsck --repair dropped a stream record"
sed 's/^/# /' "$t/repair"
rc=0
"$boa" fsck "$a" >"$t/fsck2" 2>/dev/null || rc=$?
[ "$rc" -eq 4 ] && diff <(grep '^inode' "$t/fsck") <(grep '^inode' "$t/fsck2") >&2 ||
	fail "fsck after --repair: exit $rc, or other findings: --repair changed something"
mount_boafs "$a" "$m" -o recompress=off
python3 - "$m/$lz4" "$t/ref/$lz4" <<'PY' || fail "the damaged file after fsck --repair"
import errno, mmap, os, sys
bs, want = 128 << 10, open(sys.argv[2], "rb").read()
fd, eio = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT), 0
for off in range(0, len(want), bs):
    try:
        buf = mmap.mmap(-1, bs)  # aligned, for O_DIRECT
        n = os.preadv(fd, [buf], off)
        assert buf[:n] == want[off:off + bs], "wrong bytes at %d" % off
    except OSError as e:
        assert e.errno == errno.EIO, e
        eio += 1
assert eio, "no block gives EIO"
PY
unmount_boafs "$m"

# BOA for the unwrapped bytes (-o unwrap=boa) on a file that zstd -19 does not make worth it.
b=$t/boa-archive
mount_boafs "$b" "$m" -o recompress=off
cp "$rootc/uproot-Zmumu-zlib.root" "$m/z.root"
before=$(stored_bytes "$m/z.root")
remount_boafs "$b" "$m" -o recompress=now,unwrap=boa,threads=1
wait_for "$wait_s" all_logged 'inode %s: unwrapped .* with BOA' z.root || fail "BOA unwrap"
remount_boafs "$b" "$m" -o recompress=off
cmp "$rootc/uproot-Zmumu-zlib.root" "$m/z.root" || fail "BOA-unwrapped file differs"
"$PREAD_CHECK" -d -n 100 -s 13 "$m/z.root" "$rootc/uproot-Zmumu-zlib.root" || fail "BOA pread"
after=$(stored_bytes "$m/z.root")
note "Zmumu zlib: $before bytes stored plain, $after unwrapped with BOA"
[ $((after * 100)) -lt $((before * 90)) ] || fail "BOA did not shrink it by 10%"
unmount_boafs "$m"
