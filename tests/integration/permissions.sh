#!/usr/bin/env bash
# Permissions, checked by the kernel against the modes and owners boafs reports (it always mounts
# with default_permissions): with -o allow_other another user reads what is world-readable and is
# refused the rest (EACCES/EPERM), files it creates are its own, the sticky bit protects other
# users' files; setgid directories pass their group on; the umask applies. Without allow_other,
# other users cannot enter the mount at all.
. "$(dirname "$0")/lib.sh"
require_boafs
require_root
require_cmd setpriv
py=/usr/bin/python3 # not a shim under /root, which the other user cannot reach
[ -x "$py" ] || py=$(command -v python3)
nobody=65534

t=$(it_tmpdir)
mkdir "$t/mnt"
chmod 755 "$t" "$IT_TMP"
m=$t/mnt
mount_boafs "$t/archive" "$m" -o allow_other

printf 'public' >"$m/pub" && chmod 644 "$m/pub"
printf 'private' >"$m/priv" && chmod 600 "$m/priv"
mkdir "$m/open" "$m/sticky" "$m/closed"
chmod 777 "$m/open"
chmod 1777 "$m/sticky"
chmod 700 "$m/closed"
printf 'root' >"$m/sticky/rootfile"
chmod 666 "$m/sticky/rootfile"
chmod 755 "$m"

# as_nobody STATEMENTS: runs python statements as uid/gid 65534, with m (the mountpoint),
# read(p), write(p, s) and err(ERRNO_NAME, fn, args...) (fn must fail with that errno).
as_nobody() {
	local prelude
	prelude=$(
		cat <<'PY'
import errno, os, sys
m = sys.argv[1]
def err(name, fn, *a):
    try:
        fn(*a)
    except OSError as e:
        if e.errno != getattr(errno, name):
            sys.exit("%s%r: %s, expected %s" % (fn.__name__, a, errno.errorcode[e.errno], name))
        return
    sys.exit("%s%r: no error, expected %s" % (fn.__name__, a, name))
def read(p):
    with open(p) as f:
        return f.read()
def write(p, s):
    with open(p, "w") as f:
        f.write(s)
PY
	)
	printf '%s\n%s\n' "$prelude" "$1" |
		(cd / && setpriv --reuid="$nobody" --regid="$nobody" --clear-groups "$py" - "$m")
}

as_nobody '
assert read(m + "/pub") == "public"
err("EACCES", read, m + "/priv")
err("EACCES", write, m + "/pub", "x")
err("EACCES", write, m + "/new", "x")
err("EACCES", os.mkdir, m + "/newdir")
err("EACCES", os.listdir, m + "/closed")
err("EPERM", os.chmod, m + "/pub", 0o777)
err("EPERM", os.chown, m + "/pub", 65534, 65534)
err("EACCES", os.unlink, m + "/pub")
write(m + "/open/mine", "mine")
st = os.stat(m + "/open/mine")
assert (st.st_uid, st.st_gid) == (65534, 65534), "owner of a new file: %d:%d" % (st.st_uid, st.st_gid)
os.mkdir(m + "/open/mydir")
assert os.stat(m + "/open/mydir").st_uid == 65534
os.chmod(m + "/open/mine", 0o600)
err("EPERM", os.unlink, m + "/sticky/rootfile")
err("EPERM", os.rename, m + "/sticky/rootfile", m + "/sticky/stolen")
write(m + "/sticky/rootfile", "written by nobody")  # mode 666: writing is allowed
' || fail "access checks as another user"
assert_eq "written by nobody" "$(cat "$m/sticky/rootfile")" "world-writable file"
assert_eq 600 "$(stat -c %a "$m/open/mine")" "mode set by the owner"
assert_eq private "$(cat "$m/priv")" "root reading a 0600 file"

# setgid directories: new entries take the directory's group; subdirectories keep the bit.
mkdir "$m/sg"
chown 0:1234 "$m/sg"
chmod 2775 "$m/sg"
: >"$m/sg/f"
mkdir "$m/sg/d"
assert_eq 1234 "$(stat -c %g "$m/sg/f")" "group of a file made in a setgid directory"
assert_eq 1234 "$(stat -c %g "$m/sg/d")" "group of a directory made in a setgid directory"
[ -g "$m/sg/d" ] || fail "a directory made in a setgid directory lacks the setgid bit"

# The umask.
(umask 027 && : >"$m/masked" && mkdir "$m/masked-dir")
assert_eq 640 "$(stat -c %a "$m/masked")" "file made under umask 027"
assert_eq 750 "$(stat -c %a "$m/masked-dir")" "directory made under umask 027"

# After a remount, the same answers; then without allow_other, other users are kept out.
remount_boafs "$t/archive" "$m" -o allow_other
as_nobody '
assert read(m + "/pub") == "public"
err("EACCES", read, m + "/priv")
assert read(m + "/open/mine") == "mine"
' || fail "access checks after remount"
remount_boafs "$t/archive" "$m"
as_nobody 'err("EACCES", os.stat, m + "/pub")' ||
	fail "another user entered a mount made without allow_other"
