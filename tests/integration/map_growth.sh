#!/usr/bin/env bash
# The index starts with a tiny LMDB map (test hook BOAFS_IDX_MAP_SIZE=128K), so that creating
# files, directories and xattrs, writing 16 KiB blocks, renaming and deleting all run out of map
# again and again: each such transaction must be retried whole after the map grows (fs_txn_run,
# the flush) and nothing may be lost or doubled. Checked live and after a remount with the
# default map (which must take the grown file's size).
. "$(dirname "$0")/lib.sh"
require_boafs

t=$(it_tmpdir)
m=$t/mnt a=$t/archive
mkdir "$m" "$t/ref"
BOAFS_IDX_MAP_SIZE=131072 mount_boafs "$a" "$m" -o block_size=16K

make_data "$t/ref/big" $((6 * 1024 * 1024))
cp "$t/ref/big" "$m/big"
for d in $(seq 1 12); do
	mkdir "$m/d$d"
	for f in $(seq 1 80); do
		printf 'file %d of dir %d\n' "$f" "$d" >"$m/d$d/f$f"
		setfattr -n user.tag -v "d$d-f$f-$(printf '%0200d' 0)" "$m/d$d/f$f"
	done
done
for d in $(seq 1 12); do
	mv "$m/d$d/f1" "$m/d$d/renamed"
	rm "$m/d$d/f2"
done
sync
grows=$(stat -c %s "$a/index/data.mdb")
[ "$grows" -gt 131072 ] || fail "data.mdb did not grow past the 128 KiB map: $grows bytes"
note "data.mdb grew to $grows bytes from a 128 KiB map"

check() {
	cmp "$t/ref/big" "$m/big" || fail "$1: big differs"
	for d in $(seq 1 12); do
		[ "$(ls "$m/d$d" | wc -l)" -eq 79 ] || fail "$1: d$d has $(ls "$m/d$d" | wc -l) entries, expected 79"
		[ ! -e "$m/d$d/f2" ] || fail "$1: d$d/f2 is back"
		assert_eq "file 1 of dir $d" "$(cat "$m/d$d/renamed")" "$1: d$d/renamed"
		for f in 3 40 80; do
			assert_eq "file $f of dir $d" "$(cat "$m/d$d/f$f")" "$1: d$d/f$f"
			v=$(getfattr --only-values -n user.tag "$m/d$d/f$f")
			assert_eq "d$d-f$f-$(printf '%0200d' 0)" "$v" "$1: xattr of d$d/f$f"
		done
	done
}
check live
unmount_boafs "$m"
mount_boafs "$a" "$m"
check "after remount"
unmount_boafs "$m"
