#!/usr/bin/env bash
# Access control on a mount shared with other users (-o allow_other), as on a local disk.
#
# As root: a 0600 file, a 0755 directory, a 01777 directory, a setuid and a setgid file made
# writable by others. As an unprivileged user (a new boafs-test-PID user, removed at exit, or
# nobody): reading the 0600 file, writing it, chmod/chown/utimes on it and creating in the 0755
# directory or the root fail with EACCES/EPERM; setting trusted.* attributes fails with EPERM;
# unlinking root's file in the sticky directory fails with EPERM; its own files work. Writing the
# setuid/setgid files (and truncating the setuid one) clears those bits, and the archive stores
# that. Files and directories made in a setgid directory get its group, directories its setgid
# bit; elsewhere the user's own uid and gid. Names of
# 256 bytes fail with ENAMETOOLONG for root and the user (create, mkdir, rename, symlink, link),
# 255 bytes work. Without allow_other the user cannot even stat the mount. The archive
# directory, index/ and seg/ are 0700 and their files 0600, so the user cannot read the archive
# behind the mount's back.
. "$(dirname "$0")/rlib.sh"
require_boafs
require_root
require_cmd setpriv setfattr

PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

# An unprivileged user: a new one when useradd works, else nobody.
user=boafs-test-$$
made_user=0
if command -v useradd >/dev/null && useradd -M -N -s /usr/sbin/nologin "$user" 2>/dev/null; then
	made_user=1
else
	user=nobody
fi
uid=$(id -u "$user")
gid=$(id -g "$user")
[ "$uid" -ne 0 ] || fail "$user is root"
_ac_cleanup() {
	local rc=$?
	[ "$made_user" -eq 0 ] || userdel "$user" 2>/dev/null || true
	(exit "$rc")
	_it_cleanup
}
trap _ac_cleanup EXIT

t=$(it_tmpdir)
a=$t/archive
m=$t/mnt
mkdir "$m"
# The user must be able to reach the mountpoint (the test's temp dirs are 0700).
chmod 0711 "$IT_TMP" "$t"
mount_boafs "$a" "$m" -o allow_other || fail "mount with allow_other"

# as_user PYTHON: runs the statements as the user; they print one result per line.
as_user() {
	setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all "$PY" -c "$1"
}
# expect_user ERRNO_NAMES WHAT PYTHON_STATEMENT: the statement, run as the user, must fail with
# one of the errno names (comma separated).
expect_user() {
	local want=$1 what=$2 got
	got=$(as_user "
import errno, os
try:
    $3
    print('success')
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
") || fail "$what: python as $user failed"
	case ",$want," in
	*",$got,"*) note "$what: $got" ;;
	*) fail "$what: got $got, expected $want" ;;
	esac
}

printf 'secret' >"$m/private"
chmod 0600 "$m/private"
mkdir "$m/dir755" "$m/sticky"
chmod 0755 "$m/dir755"
chmod 01777 "$m/sticky"
printf 'root' >"$m/sticky/roots"
chmod 0666 "$m/sticky/roots"
for f in suid sgid; do
	printf '#!/bin/sh\necho hi\n' >"$m/$f"
done
chmod 04757 "$m/suid"
chmod 02777 "$m/sgid"
assert_eq 4757 "$(stat -c %a "$m/suid")" "mode of the setuid file"

expect_user EACCES "read a 0600 root file" "open('$m/private').read()"
expect_user EACCES "write a 0600 root file" "open('$m/private', 'w')"
expect_user EPERM "chmod a root file" "os.chmod('$m/private', 0o644)"
expect_user EPERM "chown a root file" "os.chown('$m/private', $uid, $gid)"
expect_user EPERM "set times of a root file" "os.utime('$m/private', (0, 0))"
expect_user EACCES "create in a 0755 root directory" "open('$m/dir755/x', 'w')"
expect_user EACCES "mkdir in the root directory" "os.mkdir('$m/x')"
expect_user EACCES "rename out of a 0755 root directory" "os.rename('$m/private', '$m/sticky/p')"
expect_user EPERM,EACCES "set trusted.x on a root file" "os.setxattr('$m/sticky/roots', 'trusted.x', b'1')"
expect_user EPERM "unlink root's file in a sticky directory" "os.unlink('$m/sticky/roots')"
expect_user success "create own file in a sticky directory" "open('$m/sticky/mine', 'w').write('x')"
expect_user EPERM,EACCES "set trusted.x on its own file" "os.setxattr('$m/sticky/mine', 'trusted.x', b'1')"
expect_user success "set user.x on its own file" "os.setxattr('$m/sticky/mine', 'user.x', b'1')"
assert_eq "$uid" "$(stat -c %u "$m/sticky/mine")" "owner of the user's file"
assert_eq secret "$(cat "$m/private")" "0600 file after the user's attempts"
assert_eq 600 "$(stat -c %a "$m/private")" "mode after the user's chmod attempt"
setfattr -n trusted.root -v 1 "$m/sticky/roots" || fail "root sets trusted.root"

# Writing clears setuid and setgid (the group-executable setgid file).
expect_user success "write the o+w setuid file" "open('$m/suid', 'a').write('# more\n')"
expect_user success "write the o+w setgid file" "open('$m/sgid', 'a').write('# more\n')"
mode=$(stat -c %a "$m/suid")
[ "$mode" = 757 ] || fail "setuid file written by $user: mode $mode, expected 757 (setuid cleared)"
mode=$(stat -c %a "$m/sgid")
[ "$mode" = 777 ] || fail "setgid file written by $user: mode $mode, expected 777 (setgid cleared)"
# Truncating by the user clears setuid too.
chmod 04757 "$m/suid"
expect_user success "truncate the o+w setuid file" "os.truncate('$m/suid', 3)"
mode=$(stat -c %a "$m/suid")
[ "$mode" = 757 ] || fail "setuid file truncated by $user: mode $mode, expected 757 (setuid cleared)"
# ... and the cleared bits are what the archive stores.
remount_boafs "$a" "$m" -o allow_other
assert_eq 757 "$(stat -c %a "$m/suid")" "setuid file's mode after a remount"
assert_eq 777 "$(stat -c %a "$m/sgid")" "setgid file's mode after a remount"

# A setgid directory passes its group on to what is made in it (files and directories), and
# directories inherit the setgid bit: shared group directories depend on it.
mkdir "$m/group"
chown root:4242 "$m/group"
chmod 02777 "$m/group"
expect_user success "create in a setgid directory" "open('$m/group/f', 'w').write('x')"
expect_user success "mkdir in a setgid directory" "os.mkdir('$m/group/d')"
assert_eq "$uid:4242" "$(stat -c %u:%g "$m/group/f")" "owner:group of a file made in a setgid directory"
assert_eq "$uid:4242" "$(stat -c %u:%g "$m/group/d")" "owner:group of a directory made in a setgid directory"
mode=$(stat -c %a "$m/group/d")
[ $((8#$mode & 8#2000)) -ne 0 ] || fail "directory made in a setgid directory lacks setgid: mode $mode"
# Outside it, the user's own group.
assert_eq "$uid:$gid" "$(stat -c %u:%g "$m/sticky/mine")" "owner:group of the user's file"

# Names: 255 bytes work, 256 fail with ENAMETOOLONG, for root and for the user.
n255=$(printf 'n%.0s' $(seq 255))
n256=${n255}x
python3 - "$m" "$n255" "$n256" <<'PY' || fail "name length checks as root"
import errno, os, sys
m, ok, long = sys.argv[1], sys.argv[2], sys.argv[3]
open(os.path.join(m, ok), "w").close()
os.unlink(os.path.join(m, ok))
for what, fn in [
    ("create", lambda: open(os.path.join(m, long), "w")),
    ("mkdir", lambda: os.mkdir(os.path.join(m, long))),
    ("rename to", lambda: os.rename(os.path.join(m, "private"), os.path.join(m, long))),
    ("symlink", lambda: os.symlink("private", os.path.join(m, long))),
    ("link", lambda: os.link(os.path.join(m, "private"), os.path.join(m, long))),
    ("mknod fifo", lambda: os.mkfifo(os.path.join(m, long))),
    ("stat", lambda: os.stat(os.path.join(m, long))),
]:
    try:
        fn()
        sys.exit("root: %s with a 256-byte name succeeded" % what)
    except OSError as e:
        if e.errno != errno.ENAMETOOLONG:
            sys.exit("root: %s with a 256-byte name: %s, expected ENAMETOOLONG" % (what, errno.errorcode[e.errno]))
print("# root: 255-byte name works, 256-byte names fail with ENAMETOOLONG (7 calls)")
PY
expect_user ENAMETOOLONG "user: create with a 256-byte name" "open('$m/sticky/$n256', 'w')"
expect_user success "user: create with a 255-byte name" "open('$m/sticky/$n255', 'w')"

# Without allow_other the user cannot use the mount at all.
m2=$t/mnt2
mkdir "$m2"
mount_boafs "$t/archive2" "$m2" || fail "mount without allow_other"
expect_user EACCES "stat a mount without allow_other" "os.stat('$m2')"
unmount_boafs "$m2" || fail "unmount of the second mount"

# The archive behind the mount is root's only.
assert_eq 700 "$(stat -c %a "$a")" "mode of the archive directory"
assert_eq 700 "$(stat -c %a "$a/index")" "mode of ARCHIVE/index"
assert_eq 700 "$(stat -c %a "$a/seg")" "mode of ARCHIVE/seg"
bad=$(find "$a" -type f ! -perm 0600 -printf '%m %p\n')
[ -z "$bad" ] || fail "archive files not 0600: $bad"
chmod 0755 "$t" # even with the parent open, the archive itself stays closed
expect_user EACCES "list the archive directory" "os.listdir('$a')"
expect_user EACCES "read data.mdb" "open('$a/index/data.mdb', 'rb')"
unmount_boafs "$m" || fail "unmount"
