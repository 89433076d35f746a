#!/usr/bin/env bash
# An unlinked file stays readable and writable through descriptors opened before the unlink
# (st_nlink 0), its name is gone at once, nothing of it is visible in the directory (no
# .fuse_hidden files), and after the last close and a remount it is gone for good.
. "$(dirname "$0")/lib.sh"
require_boafs

t=$(it_tmpdir)
mkdir "$t/mnt"
mount_boafs "$t/archive" "$t/mnt"

python3 - "$t/mnt" <<'PY' || fail "unlinked-but-open checks"
import os, sys
m = sys.argv[1]
path = os.path.join(m, "victim")
data = os.urandom(100000) + b"z" * 300000
with open(path, "wb") as f:
    f.write(data)
fd = os.open(path, os.O_RDWR)
fd2 = os.open(path, os.O_RDONLY)
os.unlink(path)
assert not os.path.exists(path), "name still there"
assert os.listdir(m) == [], "directory not empty after unlink: %r" % os.listdir(m)
st = os.fstat(fd)
assert st.st_nlink == 0, "st_nlink %d" % st.st_nlink
assert st.st_size == len(data), st.st_size
assert os.pread(fd, len(data), 0) == data, "content through the first descriptor"
# Writes after the unlink, inside and past the end, are seen through the other descriptor.
os.pwrite(fd, b"after unlink", 150000)
os.pwrite(fd, b"grown", len(data))
want = bytearray(data)
want[150000:150012] = b"after unlink"
want += b"grown"
os.fsync(fd)
assert os.pread(fd2, len(want) + 10, 0) == bytes(want), "content through the second descriptor"
# A new file may take the name while the old one is open.
with open(path, "wb") as f:
    f.write(b"new")
assert os.pread(fd2, 5, 0) == data[:5], "old descriptor sees the new file"
os.close(fd)
assert os.pread(fd2, 12, 150000) == b"after unlink", "content after the first close"
os.close(fd2)
with open(path, "rb") as f:
    assert f.read() == b"new"
os.unlink(path)
assert os.listdir(m) == [], os.listdir(m)
PY

remount_boafs "$t/archive" "$t/mnt"
assert_eq "" "$(ls -A "$t/mnt")" "mount root after remount"

# Unlinked while a shell descriptor still holds it, closed, then a remount: still gone.
exec {keep}<>"$t/mnt/open-at-unmount"
head -c 3000000 /dev/urandom >&"$keep"
rm "$t/mnt/open-at-unmount"
exec {keep}>&-
remount_boafs "$t/archive" "$t/mnt"
assert_eq "" "$(ls -A "$t/mnt")" "mount root after the second remount"
