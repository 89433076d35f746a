#!/usr/bin/env bash
# mount(8) integration. mount(8) runs its helpers with a sanitized environment (no PATH of ours),
# and mount.fuse3 then finds the daemon on the default PATH, so with a build that is not
# installed the test checks: the mount.fuse.boafs helper (build copy) with mount(8)'s arguments;
# mount.fuse3 ARCHIVE MNT -t fuse.boafs -o ... (what
# `mount -t fuse.boafs` runs) with the build dir on PATH; mount(8) itself with the program
# named in the source (`mount -t fuse 'BOAFS#ARCHIVE' MNT`), options, and an fstab line in that
# form; and, when a `boafs` is installed on the default PATH, the man page's own forms
# `mount -t fuse.boafs ARCHIVE MNT` and `ARCHIVE MNT fuse.boafs defaults 0 0`. umount(8) unmounts.
. "$(dirname "$0")/lib.sh"
require_boafs
require_root
helper=$(PATH="$PATH:/sbin:/usr/sbin" command -v mount.fuse3 || true)
[ -n "$helper" ] || skip "mount.fuse3 not installed"

t=$(it_tmpdir)
a=$t/archive
m=$t/mnt
mkdir "$m"
lhe=$HEP_DATA/pylhe-testfile-pr29.lhe

# mounted_ok WHAT [ro]: MNT is a boafs mount showing the file copied in by the first mount.
mounted_ok() {
	is_mounted "$m" || fail "$1: not mounted"
	[ "$(awk -v m="$m" '$2 == m { print $3 }' /proc/self/mounts)" = fuse.boafs ] ||
		fail "$1: mount type is not fuse.boafs: $(grep -F " $m " /proc/self/mounts)"
	cmp "$lhe" "$m/$(basename "$lhe")" || fail "$1: file content"
	if [ "${2:-}" = ro ]; then
		expect_errno EROFS "open('$m/new', 'w')"
	else
		printf '%s' "$1" >"$m/written" || fail "$1: write"
		assert_eq "$1" "$(cat "$m/written")" "$1: written file"
	fi
}
unmount_ok() {
	umount "$m" || fail "$1: umount"
	! is_mounted "$m" || fail "$1: still mounted after umount"
	# Let the daemon finish writing the index before the next mount opens it.
	for _ in $(seq 1 100); do
		pgrep -f -- "$a" >/dev/null || break
		sleep 0.1
	done
}
track_mount "$m"

# The helper, as mount -t fuse.boafs calls it.
PATH="$(dirname "$BOAFS_BIN"):$PATH" "$helper" "$a" "$m" -t fuse.boafs -o rw,dev,suid ||
	fail "mount.fuse3 ARCHIVE MNT -t fuse.boafs"
cp "$lhe" "$m/"
mounted_ok "mount.fuse3"
unmount_ok "mount.fuse3"
PATH="$(dirname "$BOAFS_BIN"):$PATH" "$helper" "$a" "$m" -t fuse.boafs -o ro,cache_size=8M ||
	fail "mount.fuse3 -o ro,cache_size=8M"
mounted_ok "mount.fuse3 -o ro,cache_size=8M" ro
unmount_ok "mount.fuse3 ro"

# The mount.fuse.boafs helper that ninja install puts in /sbin, run as mount -t fuse.boafs runs
# it: a bare environment, and mount(8)'s arguments. The copy in the build directory names the
# built daemon instead of the installed one.
mhelper=$BOAFS_BUILD/fs/prog/mount.fuse.boafs.build
[ -f "$mhelper" ] || fail "mount helper not generated: $mhelper"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin sh "$mhelper" "$a" "$m" -o rw,noauto,_netdev -t fuse.boafs ||
	fail "mount.fuse.boafs ARCHIVE MNT -o rw,noauto,_netdev -t fuse.boafs"
mounted_ok "mount.fuse.boafs"
unmount_ok "mount.fuse.boafs"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin sh "$mhelper" "$a" "$m" -n -t fuse.boafs -o ro,cache_size=8M ||
	fail "mount.fuse.boafs -n -t fuse.boafs -o ro,cache_size=8M"
mounted_ok "mount.fuse.boafs -o ro,cache_size=8M" ro
unmount_ok "mount.fuse.boafs ro"
out=$(env -i PATH=/usr/bin:/bin sh "$mhelper" "$a" 2>&1) && fail "mount.fuse.boafs with one argument succeeded"
case $out in *usage:*) ;; *) fail "mount.fuse.boafs with one argument: $out" ;; esac
grep -q "^exec .*/usr/local/bin/boafs#\|^exec .*/bin/boafs#" "$BOAFS_BUILD/fs/prog/mount.fuse.boafs" ||
	fail "the installed helper does not name the installed daemon by its full path"

# mount(8), the program named in the source.
mount -t fuse "$BOAFS_BIN#$a" "$m" || fail "mount -t fuse BOAFS#ARCHIVE MNT"
mounted_ok "mount -t fuse"
unmount_ok "mount -t fuse"
mount -t fuse -o ro,cache_size=8M "$BOAFS_BIN#$a" "$m" || fail "mount -t fuse -o ro,..."
mounted_ok "mount -t fuse -o ro,cache_size=8M" ro
unmount_ok "mount -t fuse -o ro"
printf '%s %s fuse defaults 0 0\n' "$BOAFS_BIN#$a" "$m" >"$t/fstab"
mount -T "$t/fstab" "$m" || fail "mount from an fstab line"
mounted_ok "fstab"
unmount_ok "fstab"

# The man page's forms, when boafs is installed (its helper in /sbin, or boafs where mount.fuse3
# looks).
if [ -x /sbin/mount.fuse.boafs ] ||
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v boafs >/dev/null; then
	mount -t fuse.boafs "$a" "$m" || fail "mount -t fuse.boafs ARCHIVE MNT (installed boafs)"
	mounted_ok "mount -t fuse.boafs"
	unmount_ok "mount -t fuse.boafs"
	printf '%s %s fuse.boafs defaults 0 0\n' "$a" "$m" >"$t/fstab"
	mount -T "$t/fstab" "$m" || fail "mount from the man page's fstab line"
	mounted_ok "fstab fuse.boafs"
	unmount_ok "fstab fuse.boafs"
else
	note "no boafs installed on the default PATH: mount -t fuse.boafs itself not tried"
fi
