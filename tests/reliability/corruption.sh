#!/usr/bin/env bash
# A damaged archive is reported, never read as data.
#
# Part 1, segments. Files of 16 KiB blocks (incompressible ones stored raw, HEP data stored as
# zstd) are written and the archive unmounted. The segment files are walked record by record
# (48-byte headers, index/FORMAT.md) to find the record of one block of each victim file, which
# the index (blocks DB, read with mdb_poke) must point at; then each victim gets one fault:
#   payload-bitflip-raw   one bit of a raw payload flipped      (caught by the raw checksum)
#   payload-byte-zstd     one byte of a zstd payload changed    (decode error or checksum)
#   payload-zero-zstd     a zstd payload zeroed
#   header-zero           the 48-byte header zeroed             (bad magic)
#   header-ino            a byte of the header's ino changed    (header checksum)
#   segment-truncated     the segment cut inside the file's last record
#   misdirected-extent    the index extent's offset moved to another file's record
#   extent-lengths        the index extent's raw_len set past the block size
#   segment-missing       the index extent names a segment that does not exist
# `boa fsck` (when built) exits non-zero and names every damaged inode and block. After a remount:
# an O_DIRECT read of the damaged block fails with EIO (twice: nothing bad is
# cached), O_DIRECT reads of the file's other blocks return the original bytes, a buffered read
# of the whole file (cat) fails and what it printed is a prefix of the original, the daemon log
# has a line naming the inode and the block, every other file reads back intact, and the daemon
# is still up and unmounts cleanly.
#
# Part 2, the LMDB index. Copies of a good archive get one 4 KiB page of index/data.mdb replaced
# by random bytes: the two meta pages, both, TREE_PAGES (default 8, spread over the file; `all`:
# every one, as corruption_index_pages.sh does) of the branch and leaf pages in turn, and
# CORRUPT_PAGES (default 4) pages picked at random; and a data.mdb cut in half. LMDB keeps no
# checksums, so garbage in a tree page sends it to garbage page numbers and sizes: the index's
# fault guard must turn those SIGBUS/SIGSEGV/assertions into EIO. The victims'
# contents and the garbage are the same from run to run (LMDB_SEED), so the damage is too.
# Each copy is mounted: either the daemon refuses it with one line on stderr and an exit status
# below 128, or it mounts and every file reads back either as its original bytes or with an
# error (never other bytes, zeros included), the daemon survives the walk and exits below 128
# at unmount. No sanitizer report in either case.
. "$(dirname "$0")/rlib.sh"
require_boafs
require_cmd python3

P=$(rel_helper mdb_poke)
BS=16384
t=$(it_tmpdir)
a=$t/archive
m=$t/mnt
orig=$t/orig
mkdir "$m" "$orig"

# Failures that do not stop the test, so that one run reports all of them.
later_failures=()

# ---- part 1: segments ----

# Victims (one fault each) and bystanders. Raw victims are random bytes, zstd ones HEP data.
mount_boafs "$a" "$m" -o block_size=16K || fail "mount"
raw_victims="payload-bitflip-raw header-ino extent-lengths"
for f in $raw_victims; do
	python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(sys.argv[1]).randbytes(int(sys.argv[2])))' \
		"$f" $((6 * BS + 1234)) >"$orig/$f" # random, but the same each run: the same index pages
done
i=0
for f in payload-byte-zstd payload-zero-zstd header-zero misdirected-extent segment-missing; do
	make_data "$orig/$f" $((6 * BS + 777 + i++)) # make_data's content depends on the size
done
cp "$HEP_DATA"/* "$orig/"
for f in "$orig"/*; do
	cp "$f" "$m/" || fail "copy $f"
done
sync "$m"/* 2>/dev/null || true
# The truncation victim is written last, so that its last record ends the last segment.
make_data "$orig/segment-truncated" $((5 * BS + 99))
cp "$orig/segment-truncated" "$m/" || fail "copy segment-truncated"
declare -A ino=()
for f in "$orig"/*; do
	n=$(basename "$f")
	ino[$n]=$(stat -c %i "$m/$n")
done
unmount_boafs "$m" || fail "unmount"
cp -a "$a" "$t/pristine"

# records: every record of every segment as "segment offset codec raw_len stored_len ino block".
records() {
	python3 - "$a/seg" <<'PY'
import os, struct, sys
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    if not name.endswith(".seg"):
        continue
    seg = int(name[:-4], 16)
    data = open(os.path.join(d, name), "rb").read()
    off = 0
    while off + 48 <= len(data):
        h = data[off:off + 48]
        if h[:4] != b"BOAR":
            sys.exit("segment %s offset %d: no record magic" % (name, off))
        codec, ver, hlen, model, raw_len, stored_len, _ = struct.unpack_from("<BBHIIII", h, 4)
        ino, block, _ = struct.unpack_from("<QQQ", h, 24)
        print(seg, off, codec, raw_len, stored_len, ino, block)
        off += 48 + stored_len
PY
}
records >"$t/records" || fail "cannot walk the segments"
note "$(wc -l <"$t/records") records in $(find "$a/seg" -name '*.seg' | wc -l) segment files"

be64() { printf '%016x' "$1"; }
# extent_of NAME BLOCK: the index's value for (ino, block), hex.
extent_of() {
	"$P" get "$a/index" blocks "$(be64 "${ino[$1]}")$(be64 "$2")"
}
le_hex() { # VALUE BYTES: little-endian hex
	python3 -c "import sys; print(int(sys.argv[1]).to_bytes(int(sys.argv[2]), 'little').hex())" "$1" "$2"
}
# record_of NAME BLOCK: "segment offset codec raw_len stored_len" of the block's record, the one
# the index points at (checked against the segment walk).
record_of() {
	local n=$1 b=$2 ext seg off line
	ext=$(extent_of "$n" "$b") || fail "$n block $b: no extent in the index"
	seg=$(python3 -c "import sys; print(int.from_bytes(bytes.fromhex(sys.argv[1][0:16]), 'little'))" "$ext")
	off=$(python3 -c "import sys; print(int.from_bytes(bytes.fromhex(sys.argv[1][16:32]), 'little'))" "$ext")
	line=$(awk -v s="$seg" -v o="$off" -v i="${ino[$n]}" -v b="$b" \
		'$1 == s && $2 == o && $6 == i && $7 == b { print $1, $2, $3, $4, $5 }' "$t/records")
	[ -n "$line" ] || fail "$n block $b: the index points at segment $seg offset $off, where the walk found no record of inode ${ino[$n]} block $b"
	printf '%s\n' "$line"
}
seg_path() { printf '%s/seg/%016x.seg' "$a" "$1"; }
# poke FILE OFFSET HEXBYTES: overwrites bytes in place.
poke() {
	python3 - "$1" "$2" "$3" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]))
    f.write(bytes.fromhex(sys.argv[3]))
PY
}
peek() { # FILE OFFSET LEN: hex
	python3 -c "import sys; f=open(sys.argv[1],'rb'); f.seek(int(sys.argv[2])); print(f.read(int(sys.argv[3])).hex())" "$@"
}

declare -A victim_block=()
damage() { # NAME BLOCK FAULT
	local n=$1 b=$2 rec seg off codec raw stored path ext
	rec=$(record_of "$n" "$b")
	read -r seg off codec _ stored <<<"$rec"
	path=$(seg_path "$seg")
	victim_block[$n]=$b
	case $3 in
	payload-bitflip-raw)
		[ "$codec" -eq 0 ] || fail "$n block $b: expected a raw record, codec $codec"
		local at=$((off + 48 + stored / 2)) byte
		byte=$(peek "$path" "$at" 1)
		poke "$path" "$at" "$(printf '%02x' $((0x$byte ^ 0x10)))" ;;
	payload-byte-zstd)
		[ "$codec" -eq 1 ] || fail "$n block $b: expected a zstd record, codec $codec"
		local at=$((off + 48 + stored / 2)) byte
		byte=$(peek "$path" "$at" 1)
		poke "$path" "$at" "$(printf '%02x' $((0x$byte ^ 0xff)))" ;;
	payload-zero-zstd)
		[ "$codec" -eq 1 ] || fail "$n block $b: expected a zstd record, codec $codec"
		poke "$path" $((off + 48)) "$(head -c "$stored" /dev/zero | od -An -v -tx1 | tr -d ' \n')" ;;
	header-zero)
		poke "$path" "$off" "$(printf '%096d' 0)" ;;
	header-ino)
		local byte
		byte=$(peek "$path" $((off + 24)) 1)
		poke "$path" $((off + 24)) "$(printf '%02x' $((0x$byte ^ 0x01)))" ;;
	segment-truncated)
		local size
		size=$(stat -c %s "$path")
		[ $((off + 48 + stored)) -eq "$size" ] ||
			fail "$n block $b: its record does not end segment $seg ($((off + 48 + stored)) != $size)"
		truncate -s $((off + 48 + stored / 2)) "$path" ;;
	misdirected-extent)
		# Point at block 0 of another file: a valid record, but not this block's.
		local other
		other=$(record_of payload-byte-zstd 0)
		ext=$(extent_of "$n" "$b")
		read -r oseg ooff _ <<<"$other"
		"$P" put "$a/index" blocks "$(be64 "${ino[$n]}")$(be64 "$b")" \
			"$(le_hex "$oseg" 8)$(le_hex "$ooff" 8)${ext:32}" || fail "poke extent" ;;
	extent-lengths)
		ext=$(extent_of "$n" "$b")
		"$P" put "$a/index" blocks "$(be64 "${ino[$n]}")$(be64 "$b")" \
			"${ext:0:48}$(le_hex $((BS * 4)) 4)${ext:56}" || fail "poke extent" ;;
	segment-missing)
		ext=$(extent_of "$n" "$b")
		"$P" put "$a/index" blocks "$(be64 "${ino[$n]}")$(be64 "$b")" \
			"$(le_hex 4242 8)${ext:16}" || fail "poke extent" ;;
	*) fail "unknown fault $3" ;;
	esac
	note "fault $3: inode ${ino[$n]} block $b (segment $seg offset $off, codec $codec, $stored stored bytes)"
}

for f in payload-bitflip-raw payload-byte-zstd payload-zero-zstd header-zero header-ino \
	misdirected-extent extent-lengths segment-missing; do
	damage "$f" 2 "$f"
done
last_block=$(((5 * BS + 99) / BS))
damage segment-truncated "$last_block" segment-truncated

# boa fsck (read-only) must find every damaged block and say so, by inode and block.
BOA=$(boa_tool fsck)
if [ -n "$BOA" ]; then
	rc=0
	"$BOA" fsck "$a" >"$t/fsck.out" 2>&1 || rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] ||
		fail "boa fsck of the damaged archive exited $rc: $(cat "$t/fsck.out")"
	no_sanitizer_report "$t/fsck.out" "boa fsck"
	for n in "${!victim_block[@]}"; do
		grep -q "inode ${ino[$n]} .*block ${victim_block[$n]}\b" "$t/fsck.out" ||
			later_failures+=("boa fsck does not name inode ${ino[$n]} block ${victim_block[$n]} (fault $n)")
	done
	note "boa fsck: exit $rc, $(grep -c . "$t/fsck.out") lines, last: $(tail -n 1 "$t/fsck.out")"
else
	note "no boa fsck in $BOAFS_BUILD: skipping the offline check"
fi

mount_boafs "$a" "$m" || fail "mount of the damaged archive"
log=$(daemon_log "$m")

# read_block NAME BLOCK: O_DIRECT read of one block; prints "ok" and compares, or the errno name.
read_block() {
	python3 - "$m/$1" "$orig/$1" "$2" "$BS" <<'PY'
import errno, mmap, os, sys
path, orig, block, bs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
want = open(orig, "rb").read()[block * bs:(block + 1) * bs]
fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, bs)  # page-aligned
try:
    n = os.preadv(fd, [buf], block * bs)
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
    sys.exit(0)
got = bytes(buf[:n])
print("ok" if got == want else "WRONG DATA (%d bytes, expected %d)" % (n, len(want)))
PY
}

for n in "${!victim_block[@]}"; do
	b=${victim_block[$n]}
	size=$(stat -c %s "$orig/$n")
	blocks=$(((size + BS - 1) / BS))
	for try in 1 2; do
		r=$(read_block "$n" "$b")
		assert_eq EIO "$r" "$n: O_DIRECT read of damaged block $b (try $try)"
	done
	for ((k = 0; k < blocks; k++)); do
		[ "$k" -ne "$b" ] || continue
		r=$(read_block "$n" "$k")
		assert_eq ok "$r" "$n: O_DIRECT read of intact block $k"
	done
	grep -q "inode ${ino[$n]} block $b\b" "$log" ||
		fail "$n: no daemon log line names inode ${ino[$n]} block $b; log: $(cat "$log")"
done
note "$(grep -c . "$log") daemon log lines, e.g.: $(grep -m1 'inode' "$log")"

# Buffered reads of whole damaged files: the read must fail, and what came before the failure
# must be the original bytes (a short read that the kernel takes for the end of the file would
# make `cat` succeed with a truncated copy).
for n in "${!victim_block[@]}"; do
	rc=0
	cat "$m/$n" >"$t/out" 2>"$t/err" || rc=$?
	got=$(stat -c %s "$t/out")
	cmp -s -n "$got" "$t/out" "$orig/$n" ||
		fail "$n: buffered read returned bytes that differ from the original"
	if [ "$rc" -eq 0 ]; then
		short_reads=$((${short_reads:-0} + 1))
		later_failures+=("$n: cat of a file with a damaged block succeeded ($got of $(stat -c %s "$orig/$n") bytes)")
	elif ! grep -q 'Input/output error' "$t/err"; then
		fail "$n: cat failed without EIO: $(cat "$t/err")"
	fi
done

[ "${short_reads:-0}" -eq 0 ] ||
	bug_note "a buffered read that reaches a damaged block returns the blocks before it as a short read, which the kernel takes for the end of the file: cat exits 0 with a truncated copy ($short_reads of ${#victim_block[@]} damaged files). fs_file_read should fail the whole request with EIO."

# Every other file reads back intact (cache dropped: these reads reach the daemon).
for f in "$orig"/*; do
	n=$(basename "$f")
	[ -z "${victim_block[$n]:-}" ] || continue
	cmp -- "$f" "$m/$n" || fail "bystander $n differs after the damage"
done
daemon_alive "$m" || fail "the daemon died while reading damaged blocks"
unmount_boafs "$m" || fail "unmount after reading damaged blocks"
no_sanitizer_report "$log" "segment damage"

# ---- part 2: the LMDB index ----

CORRUPT_PAGES=${CORRUPT_PAGES:-4}
# The garbage written into a page depends on LMDB_SEED only (default 1), so that a run checks the
# same damage every time; LMDB_SEED=$RANDOM explores.
LMDB_SEED=${LMDB_SEED:-1}
# trial_failed WHAT TEXT: records a failure of this trial and detaches a mount it left.
trial_failed() {
	later_failures+=("$1: $2")
	printf 'FAIL (continuing): %s: %s\n' "$1" "$2" >&2
	if is_mounted "$m"; then
		fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	fi
}
lmdb_trial() { # WHAT MUTATION
	local what=$1 c=$t/copy pid rc=0 waited=0 log=$t/trial.log out
	rm -rf "$c"
	cp -a "$t/pristine" "$c"
	python3 - "$c/index/data.mdb" "$2" "$LMDB_SEED" <<'PY' || fail "$what: cannot damage data.mdb"
import os, random, sys
path, how, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random("%d:%s" % (seed, how))
size = os.path.getsize(path)
with open(path, "r+b") as f:
    if how == "half":
        f.truncate(size // 2)
    else:
        for page in map(int, how.split(",")):
            f.seek(page * 4096)
            f.write(rng.randbytes(4096))
PY
	"$BOAFS_BIN" "$c" "$m" -f </dev/null >"$log" 2>&1 &
	pid=$!
	while ! is_mounted "$m" && kill -0 "$pid" 2>/dev/null && [ "$waited" -lt $((MOUNT_TIMEOUT * 10)) ]; do
		sleep 0.1
		waited=$((waited + 1))
	done
	if ! is_mounted "$m"; then
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid"
			wait "$pid" 2>/dev/null || true
			trial_failed "$what" "the daemon neither mounted nor exited within $MOUNT_TIMEOUT s"
			return 0
		fi
		wait "$pid" || rc=$?
		if grep -Eq 'Sanitizer|runtime error:' "$log"; then
			trial_failed "$what" "sanitizer report: $(cat "$log")"
		elif [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ]; then
			trial_failed "$what" "refused with exit status $rc (signal $((rc - 128))); log: $(cat "$log")"
		elif [ "$(grep -c . "$log")" -ne 1 ]; then
			trial_failed "$what" "refused with $(grep -c . "$log") lines instead of one: $(cat "$log")"
		else
			note "$what: refused, exit $rc: $(cat "$log")"
		fi
		return 0
	fi
	# Mounted: every original file reads back as the original or fails; nothing else.
	rc=0
	out=$(timeout -k 5 60 python3 - "$m" "$orig" <<'PY'
import os, sys
mnt, orig = sys.argv[1], sys.argv[2]
same = failed = 0
for name in sorted(os.listdir(orig)):
    want = open(os.path.join(orig, name), "rb").read()
    try:
        with open(os.path.join(mnt, name), "rb") as f:
            got = f.read()
    except OSError as e:
        failed += 1
        continue
    if got != want:
        at = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), min(len(got), len(want)))
        print("WRONG %s: read %d bytes without error, they differ from the %d written from byte %d on (%s there)" % (
            name, len(got), len(want), at, "zeros" if not any(got[at:at + 64]) else "other bytes"))
        sys.exit(1)
    same += 1
try:
    for dirpath, dirs, files in os.walk(mnt):
        for n in files:
            try:
                os.lstat(os.path.join(dirpath, n))
            except OSError:
                pass
except OSError:
    pass
print("%d files intact, %d unreadable" % (same, failed))
PY
	) || rc=$?
	if ! kill -0 "$pid" 2>/dev/null; then
		rc=0
		wait "$pid" || rc=$?
		trial_failed "$what" "the daemon died (exit status $rc) while files were read; log: $(head -c 600 "$log")"
		return 0
	fi
	if [ "$rc" -ne 0 ]; then
		trial_failed "$what" "reads returned wrong data or hung (status $rc): $out"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		return 0
	fi
	# Exit status 1 at unmount (a failed final sync) is allowed for a damaged index.
	fusermount3 -u "$m" || fusermount3 -u -z "$m" || true
	for ((waited = 0; waited < EXIT_TIMEOUT * 10; waited++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		trial_failed "$what" "the daemon did not exit $EXIT_TIMEOUT s after the unmount"
		return 0
	fi
	rc=0
	wait "$pid" || rc=$?
	if grep -Eq 'Sanitizer|runtime error:' "$log"; then
		trial_failed "$what" "sanitizer report: $(cat "$log")"
	elif [ "$rc" -ge 128 ]; then
		trial_failed "$what" "the daemon died of signal $((rc - 128)) at unmount; log: $(head -c 600 "$log")"
	else
		note "$what: mounted; $out; daemon exit $rc"
	fi
	# Offline, boa fsck survives the same damage and does not call it clean when reads failed.
	[ -n "$BOA" ] || return 0
	rc=0
	timeout -k 5 120 "$BOA" fsck "$c" >"$t/trial.fsck" 2>&1 || rc=$?
	if grep -Eq 'Sanitizer|runtime error:' "$t/trial.fsck"; then
		trial_failed "$what" "fsck: sanitizer report: $(head -c 600 "$t/trial.fsck")"
	elif [ "$rc" -ge 124 ]; then
		trial_failed "$what" "fsck died or hung (exit status $rc): $(head -c 600 "$t/trial.fsck")"
	elif [ "$rc" -eq 0 ] && ! [[ $out == *" 0 unreadable"* ]]; then
		trial_failed "$what" "fsck calls the archive clean, but reads failed ($out)"
	else
		note "$what: fsck exit $rc"
	fi
}

npages=$(($(stat -c %s "$t/pristine/index/data.mdb") / 4096))
# B-tree pages (LMDB page header: pgno u64 at 0, flags u16 at 10; branch 0x01, leaf 0x02): most
# pages of a young data.mdb are free, and garbage there changes nothing.
mapfile -t tree_pages < <(python3 - "$t/pristine/index/data.mdb" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
for n in range(2, len(data) // 4096):
    pgno, flags = struct.unpack_from("<Q", data, n * 4096)[0], struct.unpack_from("<H", data, n * 4096 + 10)[0]
    if pgno == n and flags & 0x03:
        print(n)
PY
)
[ "${#tree_pages[@]}" -gt 0 ] || fail "no B-tree pages found in data.mdb"
note "data.mdb: $npages pages, ${#tree_pages[@]} of them branch or leaf pages"
lmdb_trial "meta page 0 garbage" 0
lmdb_trial "meta page 1 garbage" 1
lmdb_trial "both meta pages garbage" 0,1
lmdb_trial "data.mdb cut in half" half
TREE_PAGES=${TREE_PAGES:-8}
if [ "$TREE_PAGES" = all ] || [ "$TREE_PAGES" -ge "${#tree_pages[@]}" ]; then
	picked=("${tree_pages[@]}")
else
	picked=()
	for ((i = 0; i < TREE_PAGES; i++)); do
		picked+=("${tree_pages[$((i * ${#tree_pages[@]} / TREE_PAGES))]}")
	done
fi
for p in "${picked[@]}"; do
	lmdb_trial "B-tree page $p garbage" "$p"
done
RANDOM=$LMDB_SEED
for ((i = 0; i < CORRUPT_PAGES; i++)); do
	rand_between p 2 $((npages - 1))
	lmdb_trial "page $p garbage (seed $LMDB_SEED)" "$p"
done

if [ "${#later_failures[@]}" -gt 0 ]; then
	printf 'FAIL: %s\n' "${later_failures[@]}" >&2
	fail "${#later_failures[@]} failures (above)"
fi
