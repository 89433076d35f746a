#!/usr/bin/env bash
# rename(2) and renameat2(2): over an existing file (the target's old inode goes, the source's
# inode takes the name), moving directories (their `..` follows), the POSIX error cases, and the
# RENAME_NOREPLACE / RENAME_EXCHANGE flags. The resulting tree survives a remount.
. "$(dirname "$0")/lib.sh"
require_boafs

t=$(it_tmpdir)
mkdir "$t/mnt"
mount_boafs "$t/archive" "$t/mnt"

python3 - "$t/mnt" <<'PY' || fail "rename checks"
import ctypes, errno, os, sys

root = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
AT_FDCWD = -100


def renameat2(a, b, flags):
    if libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), a)


def p(*parts):
    return os.path.join(root, *parts)


def put(path, data):
    with open(path, "wb") as f:
        f.write(data)


def get(path):
    with open(path, "rb") as f:
        return f.read()


def expect(err, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        assert e.errno == err, "%s%r: %s, expected %s" % (
            fn.__name__, args, errno.errorcode.get(e.errno), errno.errorcode[err])
        return
    raise AssertionError("%s%r: no error, expected %s" % (fn.__name__, args,
                                                          errno.errorcode[err]))


# Over an existing file.
put(p("a"), b"A" * 200000)
put(p("b"), b"B" * 1000)
ino_a = os.stat(p("a")).st_ino
os.rename(p("a"), p("b"))
assert not os.path.exists(p("a")), "source still there"
assert get(p("b")) == b"A" * 200000, "target content is not the source's"
assert os.stat(p("b")).st_ino == ino_a, "target inode is not the source's"
assert sorted(os.listdir(root)) == ["b"], os.listdir(root)

# Over an existing file that is still open: the open descriptor keeps the old content.
put(p("c"), b"C" * 5000)
fd = os.open(p("b"), os.O_RDONLY)
os.rename(p("c"), p("b"))
assert os.pread(fd, 10, 0) == b"A" * 10, "replaced-but-open file lost its content"
os.close(fd)
assert get(p("b")) == b"C" * 5000

# Within and across directories, and directories themselves.
os.makedirs(p("d1", "sub"))
os.mkdir(p("d2"))
put(p("d1", "sub", "x"), b"x")
os.rename(p("b"), p("d1", "b2"))
assert get(p("d1", "b2")) == b"C" * 5000
os.rename(p("d1", "sub"), p("d2", "moved"))
assert get(p("d2", "moved", "x")) == b"x"
assert os.stat(p("d2", "moved", "..")).st_ino == os.stat(p("d2")).st_ino, "'..' did not follow"
# Directory link counts: 2 + subdirectories, or 1 ("not counted", which find(1) understands).
for d, want in (("d1", 2), ("d2", 3)):
    n = os.stat(p(d)).st_nlink
    assert n in (want, 1), "%s: st_nlink %d, expected %d (or 1)" % (d, n, want)
assert not os.path.exists(p("d1", "sub"))
os.mkdir(p("empty"))
os.rename(p("d2", "moved"), p("empty"))  # a directory over an empty directory
assert get(p("empty", "x")) == b"x"
os.rename(p("empty"), p("d2", "moved"))

# Errors.
os.mkdir(p("full"))
put(p("full", "f"), b"")
put(p("file"), b"file")
expect(errno.ENOTEMPTY, os.rename, p("d2"), p("full"))
expect(errno.EISDIR, os.rename, p("file"), p("d2"))
expect(errno.ENOTDIR, os.rename, p("d2"), p("file"))
expect(errno.EINVAL, os.rename, p("d2"), p("d2", "moved", "inside"))
expect(errno.ENOENT, os.rename, p("nonexistent"), p("z"))
assert get(p("file")) == b"file" and get(p("full", "f")) == b""

# Renaming a name onto a hard link of itself does nothing.
os.link(p("file"), p("file-link"))
os.rename(p("file"), p("file-link"))
assert os.path.exists(p("file")) and os.path.exists(p("file-link"))
os.unlink(p("file-link"))

# RENAME_NOREPLACE
put(p("n1"), b"n1")
put(p("n2"), b"n2")
expect(errno.EEXIST, renameat2, p("n1"), p("n2"), RENAME_NOREPLACE)
assert get(p("n1")) == b"n1" and get(p("n2")) == b"n2", "NOREPLACE changed something"
renameat2(p("n1"), p("n3"), RENAME_NOREPLACE)
assert not os.path.exists(p("n1")) and get(p("n3")) == b"n1"

# RENAME_EXCHANGE: two files, then a file and a directory in different parents.
ino2, ino3 = os.stat(p("n2")).st_ino, os.stat(p("n3")).st_ino
renameat2(p("n2"), p("n3"), RENAME_EXCHANGE)
assert get(p("n2")) == b"n1" and get(p("n3")) == b"n2", "EXCHANGE did not swap contents"
assert os.stat(p("n2")).st_ino == ino3 and os.stat(p("n3")).st_ino == ino2
renameat2(p("n2"), p("d2", "moved"), RENAME_EXCHANGE)
assert os.path.isdir(p("n2")) and get(p("n2", "x")) == b"x"
assert get(p("d2", "moved")) == b"n1"
assert os.stat(p("n2", "..")).st_ino == os.stat(root).st_ino, "'..' after EXCHANGE"
expect(errno.ENOENT, renameat2, p("n2"), p("nonexistent"), RENAME_EXCHANGE)
PY

manifest "$t/mnt" >"$t/before"
remount_boafs "$t/archive" "$t/mnt"
manifest "$t/mnt" >"$t/after"
diff "$t/before" "$t/after" || fail "tree differs after remount"
