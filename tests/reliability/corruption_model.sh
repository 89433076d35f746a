#!/usr/bin/env bash
# A damaged stored model is reported, never decoded with. BOA blocks name the model they were
# coded with (its id); the model's bytes live in the index (models DB). Two HEP files are written
# in 16 KiB blocks and recompressed with BOA level 7 (which uses the Mamba model), beside an
# incompressible file that stays raw and needs no model. Then, in copies of the archive, the
# stored model gets one fault each: a byte flipped in its weights, 4 KiB of it zeroed, or cut to
# half its length. Each copy is mounted with the default options (background recompression on):
# the daemon comes up and stays up; every BOA file's read fails with EIO and the log names its
# inode, a block and the model; the raw file reads back intact; `boa fsck` exits 4 and names the
# BOA files' inodes.
. "$(dirname "$0")/rlib.sh"
require_boafs
require_root

POKE=$(rel_helper mdb_poke)
BOA=$(boa_tool fsck)
[ -n "$BOA" ] || skip "no boa in $BOAFS_BUILD"

t=$(it_tmpdir)
m=$t/mnt a=$t/archive
mkdir "$m" "$t/ref"
cp "$HEP_DATA/pylhe-testfile-hpcgen.hdf5" "$t/ref/hdf5"
cp "$HEP_DATA/pylhe-testfile-powheg-box-v2-Z.lhe" "$t/ref/lhe"
head -c 50000 /dev/urandom >"$t/ref/noise"

mount_boafs "$a" "$m" -o block_size=16K,recompress=now,boa_level=7
cp "$t/ref"/* "$m/"
declare -A ino
for f in hdf5 lhe noise; do ino[$f]=$(stat -c %i "$m/$f"); done
sync
# Done when every block of the two HEP files is a BOA record (codec 2 at byte 48 of the extent).
boa_blocks() {
	"$POKE" list "$a/index" blocks | awk -v a="$(printf '%016x' "${ino[hdf5]}")" \
		-v b="$(printf '%016x' "${ino[lhe]}")" '
		{ ino = substr($1, 1, 16); codec = substr($2, 97, 2)
		  if ((ino == a || ino == b) && codec == "02") n++ }
		END { print n + 0 }'
}
want=$(((57932 + 16383) / 16384 + (111277 + 16383) / 16384))
# Until the pool has tried every block: a condition, not a time (wait_pool_idle in lib.sh).
wait_pool_idle "$a" "$m"
[ "$(boa_blocks)" -ge "$want" ] || fail "only $(boa_blocks) of $want blocks were recompressed with BOA"
unmount_boafs "$m"
model_key=$("$POKE" list "$a/index" models | cut -d' ' -f1)
[ "$(echo "$model_key" | wc -l)" -eq 1 ] || fail "expected one stored model, got: $model_key"
note "$want BOA blocks, model $model_key"

for fault in flip zero4k half; do
	c=$t/copy-$fault
	cp -a "$a" "$c"
	"$POKE" get "$c/index" models "$model_key" | python3 -c '
import sys
fault = sys.argv[1]
v = bytearray.fromhex(sys.stdin.read().strip())
mid = len(v) // 2
if fault == "flip":
    v[mid] ^= 0x10
elif fault == "zero4k":
    v[mid:mid + 4096] = bytes(4096)
else:
    v = v[:mid]
sys.stdout.write(v.hex())' "$fault" >"$t/model.hex"
	"$POKE" put "$c/index" models "$model_key" "@$t/model.hex" || fail "$fault: cannot store the damaged model"
	mount_boafs "$c" "$m"
	log=$(daemon_log "$m")
	for f in hdf5 lhe; do
		if cat "$m/$f" >"$t/out" 2>"$t/err"; then
			fail "$fault: $f read without error with a damaged model"
		fi
		grep -q "Input/output error" "$t/err" || fail "$fault: reading $f: $(cat "$t/err")"
		cmp -s "$t/out" "$t/ref/$f" && fail "$fault: $f came back whole"
		grep -Eq "inode ${ino[$f]} block [0-9]+: model $model_key needed to decode it is unavailable" "$log" ||
			fail "$fault: no log line names inode ${ino[$f]} and model $model_key: $(cat "$log")"
	done
	cmp "$t/ref/noise" "$m/noise" || fail "$fault: the raw file does not read back"
	grep -q "model $model_key in the index does not load" "$log" ||
		fail "$fault: the log does not say the model is damaged: $(cat "$log")"
	daemon_alive "$m" || fail "$fault: the daemon died"
	unmount_boafs "$m"
	no_sanitizer_report "$log" "$fault"
	rc=0
	"$BOA" fsck "$c" >"$t/fsck.out" 2>&1 || rc=$?
	assert_eq 4 "$rc" "$fault: fsck exit status"
	for f in hdf5 lhe; do
		grep -q "inode ${ino[$f]}\b" "$t/fsck.out" ||
			fail "$fault: fsck does not name inode ${ino[$f]} ($f): $(head -c 600 "$t/fsck.out")"
	done
	grep -q "inode ${ino[noise]}\b" "$t/fsck.out" &&
		fail "$fault: fsck blames the raw file: $(head -c 600 "$t/fsck.out")"
	note "$fault: EIO on both BOA files, raw file intact, fsck exit 4: $(tail -1 "$t/fsck.out")"
done
