#!/usr/bin/env bash
# statfs and du on a mount: df and df -i work, statfs reports the backing file system's size and
# a 255-byte name limit, and du/du --apparent-size add up st_blocks and st_size of a tree.
. "$(dirname "$0")/lib.sh"
require_boafs

t=$(it_tmpdir)
mkdir "$t/mnt"
mount_boafs "$t/archive" "$t/mnt"
m=$t/mnt

df -P "$m" >"$t/df" || fail "df on the mount"
assert_eq 2 "$(wc -l <"$t/df")" "lines of df -P"
read -r _ total used avail _ <<<"$(tail -n 1 "$t/df")"
[ "$total" -gt 0 ] && [ "$avail" -gt 0 ] && [ "$used" -ge 0 ] || fail "df: $(cat "$t/df")"
df -i "$m" >/dev/null || fail "df -i on the mount"

# The backing file system's size (the archive's), within 1%.
read -r mb ms <<<"$(stat -f -c '%b %S' "$m")"
read -r ab as <<<"$(stat -f -c '%b %S' "$t/archive")"
mount_bytes=$((mb * ms))
backing_bytes=$((ab * as))
diff_bytes=$((mount_bytes > backing_bytes ? mount_bytes - backing_bytes : backing_bytes - mount_bytes))
[ $((diff_bytes * 100)) -le "$backing_bytes" ] ||
	fail "statfs size $mount_bytes, backing file system $backing_bytes"
assert_eq 255 "$(stat -f -c %l "$m")" "statfs name length limit"

# du over a tree: the sum of the files' st_blocks and st_size.
cp -a "$HEP_DATA" "$m/hep"
make_data "$m/hep/more" 2000000
check_du() {
	local sb=0 ss=0 f du_c du_a
	for f in "$m"/hep/*; do
		sb=$((sb + $(stat -c %b "$f") * 512))
		ss=$((ss + $(stat -c %s "$f")))
	done
	sb=$((sb + $(stat -c %b "$m/hep") * 512))
	du_c=$(du -s -B1 "$m/hep" | cut -f1)
	du_a=$(du -s -B1 --apparent-size "$m/hep" | cut -f1)
	[ "$du_c" -eq "$sb" ] || { note "du $du_c, sum of st_blocks $sb"; return 1; }
	[ "$du_a" -ge "$ss" ] || { note "du --apparent-size $du_a < sum of sizes $ss"; return 1; }
	[ "$du_c" -lt "$du_a" ] || { note "du $du_c not below --apparent-size $du_a"; return 1; }
}
wait_for 5 check_du || fail "du"
