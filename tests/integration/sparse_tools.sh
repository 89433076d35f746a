#!/usr/bin/env bash
# What backup and copy tools see: st_blocks is never 0 for a file that holds data, buffered in
# the daemon or stored in a few bytes; SEEK_DATA/SEEK_HOLE follow the block map, buffered blocks
# included; fallocate's modes; EFBIG past the maximum file size; and round trips through
# `tar -S`, `cp --sparse=always` and `rsync --sparse` of a file still open for writing, a
# tiny-when-compressed file and a sparse file.
. "$(dirname "$0")/lib.sh"
require_boafs
require_cmd tar rsync fallocate

t=$(it_tmpdir)
mkdir "$t/mnt" "$t/out"
mount_boafs "$t/archive" "$t/mnt" -o recompress=off
BS=131072

# A file written and kept open: its data waits in the daemon (fewer than 64 blocks, no fsync,
# no close) while the tools copy it.
python3 - "$t/mnt" "$t/out" <<'PY' || fail "open-file round trips"
import os, subprocess, sys
mnt, out = sys.argv[1], sys.argv[2]
data = b"".join(b"event %08d px=%.3f\n" % (i, i * 0.37) for i in range(40000))[:900000]
path = os.path.join(mnt, "open.dat")
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, data)
st = os.stat(path)
assert st.st_size == len(data), st
assert st.st_blocks > 0, "st_blocks is 0 while the data is buffered"
# du counts the buffered data too (about its logical size until it is stored).
du = int(subprocess.check_output(["du", "-k", path]).split()[0])
assert du > 0, du
# SEEK_DATA / SEEK_HOLE see the buffered blocks as data.
rfd = os.open(path, os.O_RDONLY)
assert os.lseek(rfd, 0, os.SEEK_DATA) == 0
assert os.lseek(rfd, 0, os.SEEK_HOLE) == len(data), os.lseek(rfd, 0, os.SEEK_HOLE)
os.close(rfd)
def check(copy, what):
    with open(copy, "rb") as f:
        got = f.read()
    assert got == data, "%s: %d bytes, %d differ" % (what, len(got), sum(a != b for a, b in zip(got, data)))
subprocess.check_call(["tar", "-S", "-C", mnt, "-cf", os.path.join(out, "open.tar"), "open.dat"])
os.mkdir(os.path.join(out, "tar"))
subprocess.check_call(["tar", "-C", os.path.join(out, "tar"), "-xf", os.path.join(out, "open.tar")])
check(os.path.join(out, "tar", "open.dat"), "tar -S")
subprocess.check_call(["cp", "--sparse=always", path, os.path.join(out, "open.cp")])
check(os.path.join(out, "open.cp"), "cp --sparse=always")
subprocess.check_call(["rsync", "--sparse", path, os.path.join(out, "open.rsync")])
check(os.path.join(out, "open.rsync"), "rsync --sparse")
os.close(fd)
PY

# Tiny when compressed: 2 MiB of one byte is stored in a few hundred bytes.
head -c 2097152 /dev/zero | tr '\0' 'a' >"$t/tiny.src"
cp "$t/tiny.src" "$t/mnt/tiny"
sync "$t/mnt/tiny"
[ "$(stat -c %b "$t/mnt/tiny")" -gt 0 ] || fail "tiny: st_blocks is 0"
note "tiny: $(stored_bytes "$t/mnt/tiny") bytes stored for $(file_size "$t/mnt/tiny")"

# Sparse: data in blocks 0 and 8, holes elsewhere, a hole at the end.
python3 - "$t/mnt/sparse" "$t/sparse.src" <<'PY'
import sys
for p in sys.argv[1:]:
    with open(p, "wb") as f:
        f.write(b"head" * 1024)
        f.seek(8 * 131072 + 100)
        f.write(b"middle" * 1000)
        f.truncate(24 * 131072 + 5)
PY

for f in tiny sparse; do
	src=$t/$f.src
	[ "$f" = tiny ] || src=$t/sparse.src
	tar -S -C "$t/mnt" -cf "$t/out/$f.tar" "$f"
	mkdir -p "$t/out/tar-$f"
	tar -C "$t/out/tar-$f" -xf "$t/out/$f.tar"
	cmp "$src" "$t/out/tar-$f/$f" || fail "$f: tar -S round trip"
	cp --sparse=always "$t/mnt/$f" "$t/out/$f.cp"
	cmp "$src" "$t/out/$f.cp" || fail "$f: cp --sparse=always"
	rsync --sparse "$t/mnt/$f" "$t/out/$f.rsync"
	cmp "$src" "$t/out/$f.rsync" || fail "$f: rsync --sparse"
done
# The copies of the sparse file are sparse too: the tools found the holes.
[ "$(stat -c %b "$t/out/sparse.cp")" -lt $((24 * BS / 512 / 2)) ] || fail "cp copy is not sparse"

# SEEK_DATA / SEEK_HOLE on the stored sparse file (block granularity), then fallocate's modes
# against a model of the file kept in memory.
python3 - "$t/mnt" "$BS" <<'PY' || fail "lseek / fallocate"
import ctypes, errno, os, sys
mnt, bs = sys.argv[1], int(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
KEEP, PUNCH, COLLAPSE, ZERO = 1, 2, 8, 16
def fallocate(fd, mode, off, length):
    if libc.fallocate(fd, mode, off, length):
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
def expect(err, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        assert e.errno == err, "%s%r: %s, wanted %s" % (fn.__name__, args, errno.errorcode[e.errno], errno.errorcode[err])
        return
    raise AssertionError("%s%r succeeded, wanted %s" % (fn.__name__, args, errno.errorcode[err]))

fd = os.open(os.path.join(mnt, "sparse"), os.O_RDONLY)
size = 24 * bs + 5
assert os.lseek(fd, 0, os.SEEK_DATA) == 0
assert os.lseek(fd, 10, os.SEEK_HOLE) == bs
assert os.lseek(fd, bs, os.SEEK_HOLE) == bs
assert os.lseek(fd, bs + 7, os.SEEK_DATA) == 8 * bs
assert os.lseek(fd, 8 * bs + 3, os.SEEK_DATA) == 8 * bs + 3
assert os.lseek(fd, 8 * bs, os.SEEK_HOLE) == 9 * bs
expect(errno.ENXIO, os.lseek, fd, 9 * bs, os.SEEK_DATA)  # only holes follow
assert os.lseek(fd, size - 1, os.SEEK_HOLE) == size - 1
expect(errno.ENXIO, os.lseek, fd, size, os.SEEK_DATA)
expect(errno.ENXIO, os.lseek, fd, size, os.SEEK_HOLE)
os.close(fd)

path = os.path.join(mnt, "falloc")
model = bytearray(os.urandom(10 * bs + 1000))
with open(path, "wb") as f:
    f.write(model)
fd = os.open(path, os.O_RDWR)
def check(what):
    os.fsync(fd)
    got = os.pread(fd, len(model) + 10, 0)
    assert os.fstat(fd).st_size == len(model), "%s: size %d, model %d" % (what, os.fstat(fd).st_size, len(model))
    assert got == bytes(model), "%s: content differs" % what
stored = os.fstat(fd).st_blocks
# PUNCH_HOLE|KEEP_SIZE: blocks 1..3 whole, parts of 0 and 4 zeroed.
fallocate(fd, PUNCH | KEEP, 100000, 4 * bs + 500 - 100000)
model[100000:4 * bs + 500] = bytes(4 * bs + 500 - 100000)
check("punch")
assert os.fstat(fd).st_blocks < stored - 2 * bs // 512, "punch freed nothing"
assert os.lseek(fd, 0, os.SEEK_HOLE) == bs and os.lseek(fd, bs, os.SEEK_DATA) == 4 * bs
# PUNCH_HOLE past EOF with KEEP_SIZE: zeroes up to EOF only, size unchanged.
fallocate(fd, PUNCH | KEEP, 10 * bs, 5 * bs)
model[10 * bs:] = bytes(len(model) - 10 * bs)
check("punch past EOF")
# ZERO_RANGE|KEEP_SIZE inside one block; then ZERO_RANGE growing the file.
fallocate(fd, ZERO | KEEP, 5 * bs + 10, 20)
model[5 * bs + 10:5 * bs + 30] = bytes(20)
check("zero range in a block")
fallocate(fd, ZERO, 6 * bs, 6 * bs)
model[6 * bs:] = bytes(len(model) - 6 * bs)
model += bytes(12 * bs - len(model))
check("zero range growing the file")
# Mode 0 extends; KEEP_SIZE alone changes nothing; within the size nothing changes.
fallocate(fd, 0, 0, 3 * bs)
check("allocate inside")
fallocate(fd, 0, 12 * bs, 1000)
model += bytes(1000)
check("allocate past EOF")
fallocate(fd, KEEP, 0, 20 * bs)
check("keep size")
os.posix_fallocate(fd, 0, 13 * bs)
model += bytes(13 * bs - len(model))
check("posix_fallocate")
expect(errno.EOPNOTSUPP, fallocate, fd, COLLAPSE, 0, bs)
expect(errno.EOPNOTSUPP, fallocate, fd, PUNCH, 0, bs)  # PUNCH_HOLE needs KEEP_SIZE
# EFBIG past the maximum file size (2^60), as on ext4; nothing changes.
expect(errno.EFBIG, os.pwrite, fd, b"x", 1 << 62)
expect(errno.EFBIG, os.ftruncate, fd, (1 << 63) - 1)
expect(errno.EFBIG, fallocate, fd, 0, (1 << 62), 4096)
expect(errno.EFBIG, os.posix_fallocate, fd, (1 << 60), 1)
assert os.pwrite(fd, b"ab", (1 << 60) - 1) == 1  # cut short at the limit
os.ftruncate(fd, len(model))
check("after EFBIG")
os.ftruncate(fd, 1 << 60)  # the maximum itself is allowed
os.ftruncate(fd, len(model))
check("after truncating to the maximum")
os.close(fd)
PY

# All of it survives a remount (what the index holds, not the daemon's memory).
remount_boafs "$t/archive" "$t/mnt" -o recompress=off
cmp "$t/tiny.src" "$t/mnt/tiny" || fail "tiny after remount"
cmp "$t/sparse.src" "$t/mnt/sparse" || fail "sparse after remount"
python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
assert os.lseek(fd, 0, os.SEEK_HOLE) == int(sys.argv[2]), "hole after remount"
' "$t/mnt/falloc" "$BS" || fail "falloc after remount"
unmount_boafs "$t/mnt"
