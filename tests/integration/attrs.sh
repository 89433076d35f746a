#!/usr/bin/env bash
# Attributes: times set with ns precision (utimensat, touch -d/-m/-a), mtime and ctime advance on
# write and truncate, only ctime on chmod and chown, the parent's mtime on create and unlink;
# setuid/setgid bits are stored; an executable copied in runs; all kept across a remount.
. "$(dirname "$0")/lib.sh"
require_boafs

t=$(it_tmpdir)
mkdir "$t/mnt"
m=$t/mnt
mount_boafs "$t/archive" "$m"

python3 - "$m" <<'PY' || fail "time and mode checks"
import os, sys, time
m = sys.argv[1]
f = os.path.join(m, "f")


def st(p=f):
    return os.stat(p)


def tick():  # lets the clock move past the last timestamp
    time.sleep(0.02)


with open(f, "wb") as fh:
    fh.write(b"x" * 200000)
os.utime(f, ns=(1000000000123456789, 981173106123456789))
s = st()
assert (s.st_atime_ns, s.st_mtime_ns) == (1000000000123456789, 981173106123456789), \
    "utimensat: atime %d mtime %d" % (s.st_atime_ns, s.st_mtime_ns)
tick()
c0 = st().st_ctime_ns
os.chmod(f, 0o640)
s = st()
assert s.st_mode & 0o7777 == 0o640, oct(s.st_mode)
assert s.st_ctime_ns > c0, "chmod did not advance ctime"
assert s.st_mtime_ns == 981173106123456789, "chmod changed mtime"
tick()
if os.geteuid() == 0:
    c1 = s.st_ctime_ns
    os.chown(f, 1234, 5678)
    s = st()
    assert (s.st_uid, s.st_gid) == (1234, 5678), "chown: %d:%d" % (s.st_uid, s.st_gid)
    assert s.st_ctime_ns > c1, "chown did not advance ctime"
    assert s.st_mtime_ns == 981173106123456789, "chown changed mtime"
    os.chown(f, 0, 0)
    tick()
m0, c2 = st().st_mtime_ns, st().st_ctime_ns
with open(f, "r+b") as fh:
    fh.seek(150000)
    fh.write(b"y")
s = st()
assert s.st_mtime_ns > m0 and s.st_ctime_ns > c2, "write did not advance mtime and ctime"
assert abs(s.st_mtime_ns - time.time_ns()) < 60 * 10**9, "mtime after a write is not now"
tick()
m1 = st().st_mtime_ns
os.truncate(f, 1000)
assert st().st_mtime_ns > m1, "truncate did not advance mtime"
# The parent's mtime changes on create and on unlink.
d = os.path.join(m, "d")
os.mkdir(d)
tick()
p0 = st(d).st_mtime_ns
open(os.path.join(d, "child"), "w").close()
p1 = st(d).st_mtime_ns
assert p1 > p0, "create did not advance the parent's mtime"
tick()
os.unlink(os.path.join(d, "child"))
assert st(d).st_mtime_ns > p1, "unlink did not advance the parent's mtime"
# setuid, setgid and sticky bits are stored as given.
os.chmod(f, 0o6755)
assert st().st_mode & 0o7777 == 0o6755, oct(st().st_mode)
PY

export TZ=UTC0
touch -d '2001-02-03 04:05:06.987654321' "$m/touched"
assert_eq '2001-02-03 04:05:06.987654321 +0000' "$(stat -c %y "$m/touched")" "mtime from touch -d"
touch -m -d '2002-01-01 00:00:00' "$m/touched"
touch -a -d '2003-01-01 00:00:00' "$m/touched"
assert_eq '2002-01-01 00:00:00.000000000 +0000' "$(stat -c %y "$m/touched")" "mtime after touch -m"
assert_eq '2003-01-01 00:00:00.000000000 +0000' "$(stat -c %x "$m/touched")" "atime after touch -a"

cp /bin/true "$m/true"
chmod 755 "$m/true"
"$m/true" || fail "an executable in the mount does not run"
cp "$(command -v sha256sum)" "$m/sha256sum"
assert_eq "$(sha256sum </dev/null)" "$("$m/sha256sum" </dev/null)" "output of a program run from the mount"

manifest "$m" >"$t/before"
remount_boafs "$t/archive" "$m"
manifest "$m" >"$t/after"
diff "$t/before" "$t/after" || fail "attributes differ after remount"
"$m/true" || fail "an executable after remount"
