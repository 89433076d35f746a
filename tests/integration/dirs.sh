#!/usr/bin/env bash
# Directories: a directory of 3000 entries lists completely through readdir (ls, find, Python's
# scandir), also after half of them are removed and after a remount; names of 255 bytes work and
# 256 bytes give ENAMETOOLONG; the usual errors (EEXIST, ENOTEMPTY, ENOTDIR, EISDIR, ENOENT);
# directory link counts follow mkdir and rmdir.
. "$(dirname "$0")/lib.sh"
require_boafs

t=$(it_tmpdir)
mkdir "$t/mnt"
m=$t/mnt
mount_boafs "$t/archive" "$m"

python3 - "$m" <<'PY' || fail "directory checks"
import errno, os, sys
m = sys.argv[1]
big = os.path.join(m, "big")
os.mkdir(big)
names = ["entry-%05d-%s" % (i, "x" * (i % 200)) for i in range(3000)]
for i, n in enumerate(names):
    if i % 10 == 0:
        os.mkdir(os.path.join(big, n))
    else:
        with open(os.path.join(big, n), "w") as f:
            f.write(n)
listed = os.listdir(big)
assert len(listed) == len(set(listed)), "readdir returned %d duplicates" % (len(listed) - len(set(listed)))
assert sorted(listed) == sorted(names), "readdir: %d names, %d expected; missing %r" % (
    len(listed), len(names), sorted(set(names) - set(listed))[:5])
with os.scandir(big) as it:
    kinds = {e.name: e.is_dir(follow_symlinks=False) for e in it}
assert all(kinds[n] == (i % 10 == 0) for i, n in enumerate(names)), "d_type wrong in readdir"
for i, n in enumerate(names):
    if i % 2:
        p = os.path.join(big, n)
        (os.rmdir if i % 10 == 0 else os.unlink)(p)
left = sorted(n for i, n in enumerate(names) if i % 2 == 0)
assert sorted(os.listdir(big)) == left, "readdir after removing half"

# Name length limits.
long = "n" * 255
with open(os.path.join(m, long), "w") as f:
    f.write("long")
assert open(os.path.join(m, long)).read() == "long"
assert long in os.listdir(m)


def expect(err, fn, *a):
    try:
        fn(*a)
    except OSError as e:
        assert e.errno == err, "%s%r: %s, expected %s" % (
            fn.__name__, a, errno.errorcode[e.errno], errno.errorcode[err])
        return
    raise AssertionError("%s%r: no error, expected %s" % (fn.__name__, a, errno.errorcode[err]))


expect(errno.ENAMETOOLONG, open, os.path.join(m, "n" * 256), "w")
expect(errno.ENAMETOOLONG, os.mkdir, os.path.join(m, "d" * 256))
# Errors.
os.mkdir(os.path.join(m, "d"))
open(os.path.join(m, "d", "f"), "w").close()
expect(errno.EEXIST, os.mkdir, os.path.join(m, "d"))
expect(errno.EEXIST, os.mkdir, os.path.join(m, "d", "f"))
expect(errno.ENOTEMPTY, os.rmdir, os.path.join(m, "d"))
expect(errno.ENOTDIR, os.rmdir, os.path.join(m, "d", "f"))
expect(errno.ENOTDIR, os.listdir, os.path.join(m, "d", "f"))
expect(errno.ENOTDIR, open, os.path.join(m, "d", "f", "g"), "w")
expect(errno.EISDIR, os.unlink, os.path.join(m, "d"))
expect(errno.EISDIR, open, os.path.join(m, "d"), "w")
expect(errno.ENOENT, open, os.path.join(m, "nonexistent", "f"), "w")
expect(errno.ENOENT, os.stat, os.path.join(m, "nonexistent"))
expect(errno.ENOENT, os.unlink, os.path.join(m, "nonexistent"))
fd = os.open(os.path.join(m, "excl"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
os.close(fd)
expect(errno.EEXIST, os.open, os.path.join(m, "excl"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
# Link counts of directories: 2 + subdirectories, or 1 throughout (not counted).
base = os.stat(os.path.join(m, "d")).st_nlink
os.mkdir(os.path.join(m, "d", "sub1"))
os.mkdir(os.path.join(m, "d", "sub2"))
n = os.stat(os.path.join(m, "d")).st_nlink
assert (base, n) in ((2, 4), (1, 1)), "nlink of d: %d, then %d after two mkdirs" % (base, n)
os.rmdir(os.path.join(m, "d", "sub1"))
n = os.stat(os.path.join(m, "d")).st_nlink
assert n == (3 if base == 2 else 1), "nlink of d after rmdir: %d" % n
os.unlink(os.path.join(m, "d", "f"))
os.rmdir(os.path.join(m, "d", "sub2"))
os.rmdir(os.path.join(m, "d"))
assert not os.path.exists(os.path.join(m, "d"))
# . and .. of the root and of a subdirectory.
assert os.stat(os.path.join(m, ".")).st_ino == os.stat(m).st_ino
assert os.stat(os.path.join(big, "..")).st_ino == os.stat(m).st_ino
PY

find "$m/big" -mindepth 1 | sed "s|^$m/big/||" | sort >"$t/before"
assert_eq 1500 "$(wc -l <"$t/before")" "entries found by find"
# shellcheck disable=SC2010 # ls itself is what is tested
assert_eq 1500 "$(ls -f "$m/big" | grep -cv '^\.\.\?$')" "entries listed by ls -f"
remount_boafs "$t/archive" "$m"
find "$m/big" -mindepth 1 | sed "s|^$m/big/||" | sort >"$t/after"
diff "$t/before" "$t/after" || fail "the big directory differs after remount"
