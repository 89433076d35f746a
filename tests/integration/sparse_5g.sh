#!/usr/bin/env bash
# A 5 GiB sparse file: truncate -s 5G, then 1 MiB of data at the start and at the end, and a write
# straddling the 4 GiB mark (32-bit offset bugs). Sizes are exact, the data reads back, the holes
# read as zeros, and `du` stays small: holes store nothing. Only ~2 MiB is ever written. Also:
# 20 MiB of explicitly written zeros store nothing either (an all-zero block is a hole).
. "$(dirname "$0")/lib.sh"
require_boafs

t=$(it_tmpdir)
mkdir "$t/mnt"
mount_boafs "$t/archive" "$t/mnt"
f=$t/mnt/sparse
size=$((5 * 1024 * 1024 * 1024))
four_g=$((4 * 1024 * 1024 * 1024))

make_data "$t/head" $((1024 * 1024))
head -c $((1024 * 1024)) /dev/urandom >"$t/tail"
printf 'across the 4 GiB boundary' >"$t/mid"

truncate -s 5G "$f"
assert_eq "$size" "$(file_size "$f")" "size after truncate -s 5G"
wait_for 5 eval '[ "$(stat -c %b "$f")" -eq 0 ]' || fail "an all-hole file has st_blocks $(stat -c %b "$f")"
dd if="$t/head" of="$f" bs=1M conv=notrunc status=none
dd if="$t/tail" of="$f" bs=1M seek=$((size / 1024 / 1024 - 1)) conv=notrunc status=none
dd if="$t/mid" of="$f" bs=1 seek=$((four_g - 10)) conv=notrunc status=none

check() {
	assert_eq "$size" "$(file_size "$f")" "size ($1)"
	cmp -n $((1024 * 1024)) "$t/head" "$f" || fail "data at the start ($1)"
	cmp -i 0:$((size - 1024 * 1024)) "$t/tail" "$f" || fail "data at the end ($1)"
	dd if="$f" bs=1 skip=$((four_g - 10)) count=25 status=none | cmp "$t/mid" - ||
		fail "data across 4 GiB ($1)"
	# Holes: right after the head, around 2.5 GiB, just before 4 GiB, just before the tail.
	local off
	for off in $((1024 * 1024)) $((size / 2)) $((four_g - 1024 * 1024 - 100)) \
		$((four_g + 15)) $((size - 3 * 1024 * 1024)); do
		cmp -i "$off:0" -n $((1024 * 1024)) "$f" /dev/zero || fail "hole at $off ($1)"
	done
	# Reads past the end return nothing.
	assert_eq 0 "$(dd if="$f" bs=4096 skip=$((size / 4096)) count=1 status=none | wc -c)" \
		"read at EOF ($1)"
	assert_eq "$size" "$(du -B1 --apparent-size "$f" | cut -f1)" "du --apparent-size ($1)"
}
# du: compressed head + raw tail (~1.5 MiB) + one small block: far below 5 GiB, above 1 MiB.
du_small() {
	local used
	used=$(du -B1 "$f" | cut -f1)
	note "du of the sparse file: $used"
	[ "$used" -lt $((8 * 1024 * 1024)) ] && [ "$used" -gt $((1024 * 1024)) ]
}
check live
wait_for 5 du_small >/dev/null || du_small || fail "du of the sparse file (live)"
remount_boafs "$t/archive" "$t/mnt"
check "after remount"
du_small || fail "du of the sparse file (after remount)"

# Grow further by writing past the end; shrink back below 4 GiB and check the cut.
dd if="$t/mid" of="$f" bs=1 seek=$((6 * 1024 * 1024 * 1024)) conv=notrunc status=none
assert_eq $((6 * 1024 * 1024 * 1024 + 25)) "$(file_size "$f")" "size after writing past 6 GiB"
truncate -s $((four_g - 5)) "$f"
assert_eq $((four_g - 5)) "$(file_size "$f")" "size after truncate below 4 GiB"
dd if="$f" bs=1 skip=$((four_g - 10)) count=25 status=none | cmp <(head -c 5 "$t/mid") - ||
	fail "content at the new end"
# Archive on disk: small too.
archive_used=$(du -s -B1 "$t/archive" | cut -f1)
[ "$archive_used" -lt $((64 * 1024 * 1024)) ] || fail "archive directory uses $archive_used bytes"

# Zeros written out are holes too.
dd if=/dev/zero of="$t/mnt/zeros" bs=1M count=20 status=none
printf 'end' >>"$t/mnt/zeros"
zeros_small() {
	local used
	used=$(stored_bytes "$t/mnt/zeros")
	note "20 MiB of written zeros + 3 bytes: stored $used"
	[ "$used" -le 65536 ]
}
wait_for 5 zeros_small >/dev/null || zeros_small || fail "written zeros take space (live)"
remount_boafs "$t/archive" "$t/mnt"
zeros_small || fail "written zeros take space (after remount)"
cmp -n $((20 * 1024 * 1024)) "$t/mnt/zeros" /dev/zero || fail "written zeros do not read back"
assert_eq end "$(tail -c 3 "$t/mnt/zeros")" "the end of the zeros file"
