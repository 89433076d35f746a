#!/usr/bin/env bash
# Overwrites in place (dd conv=notrunc): inside one block, across a block boundary, one byte at a
# block's last and first byte, and a span covering several whole blocks. After each, the file in
# the mount equals a plain file given the same writes; and again after a remount, and after the
# same overwrites of the stored (cold) blocks and another remount. Default block size and 4 KiB.
. "$(dirname "$0")/lib.sh"
require_boafs

t=$(it_tmpdir)
mkdir "$t/mnt"
make_data "$t/orig" $((1024 * 1024 + 777))
head -c 600000 /dev/urandom >"$t/patch"

# patch FILE OFFSET LENGTH: writes LENGTH bytes of $t/patch at OFFSET without truncating.
patch() {
	dd if="$t/patch" of="$1" bs="$3" count=1 seek="$2" oflag=seek_bytes conv=notrunc \
		status=none
}

run_round() {
	local bs=$1 name
	shift
	mount_boafs "$t/archive-$bs" "$t/mnt" "$@"
	cp "$t/orig" "$t/mnt/f"
	cp "$t/orig" "$t/plain"
	local -a cases=(
		"middle $((bs + bs / 2 - 250)) 500"
		"boundary $((2 * bs - 300)) 600"
		"last-byte $((3 * bs - 1)) 1"
		"first-byte $((3 * bs)) 1"
		"whole-blocks $((4 * bs - 10)) $((3 * bs + 20))"
		"tail-extends $(($(file_size "$t/orig") - 100)) 5000"
	)
	local c off len
	for c in "${cases[@]}"; do
		read -r name off len <<<"$c"
		patch "$t/mnt/f" "$off" "$len"
		patch "$t/plain" "$off" "$len"
		cmp "$t/plain" "$t/mnt/f" || fail "bs=$bs: after overwrite '$name' at $off+$len"
	done
	# Reopened, and through O_DIRECT (the daemon, not the page cache).
	dd if="$t/mnt/f" iflag=direct bs=64k status=none | cmp "$t/plain" - ||
		fail "bs=$bs: O_DIRECT read after overwrites"
	remount_boafs "$t/archive-$bs" "$t/mnt" "$@"
	cmp "$t/plain" "$t/mnt/f" || fail "bs=$bs: after remount"
	# Again on cold blocks: each overwrite now reads the stored block, merges, stores it again.
	for c in "${cases[@]}"; do
		read -r name off len <<<"$c"
		patch "$t/mnt/f" "$((off + 7))" "$len"
		patch "$t/plain" "$((off + 7))" "$len"
	done
	remount_boafs "$t/archive-$bs" "$t/mnt" "$@"
	cmp "$t/plain" "$t/mnt/f" || fail "bs=$bs: overwrites of stored blocks, after remount"
	unmount_boafs "$t/mnt" || fail "unmount"
}

run_round 131072
run_round 4096 -o block_size=4K
