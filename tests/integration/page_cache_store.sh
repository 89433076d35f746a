#!/usr/bin/env bash
# Random buffered reads: a 4 KiB read of a block has the daemon push the rest of that block into
# the kernel's page cache, and what it pushes is never older than the file:
# - one 4 KiB random read leaves the whole 128 KiB block resident (fincore);
# - random 4 KiB reads return the file's bytes, and so does a full read afterwards;
# - a write or a truncate that comes after a pushed block is what a later read sees, while other
#   processes keep reading at random (each iteration checks read-after-write);
# - an O_DIRECT read pushes nothing.
. "$(dirname "$0")/lib.sh"
require_boafs
require_cmd fincore

t=$(it_tmpdir)
mkdir "$t/mnt"
a=$t/archive
m=$t/mnt
bs=131072

make_data "$t/ref" $((4 << 20))
mount_boafs "$a" "$m" -o recompress=off
cp "$t/ref" "$m/data"
remount_boafs "$a" "$m" -o recompress=off

resident_pages() {
	fincore --noheadings --raw --output PAGES "$1"
}

# One 4 KiB read in the middle of block 5 (posix_fadvise RANDOM: the kernel asks for just it).
python3 - "$m/data" $((5 * bs + 8192)) <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
assert len(os.pread(fd, 4096, int(sys.argv[2]))) == 4096
os.close(fd)
PY
# The push runs after the reply, on a read-ahead worker: wait for it (a condition, not a time).
wait_for 60 eval '[ "$(resident_pages "$m/data")" -ge $((bs / 4096)) ]' ||
	fail "a 4 KiB read left $(resident_pages "$m/data") pages resident, not the block's $((bs / 4096))"

# O_DIRECT reads of another file push nothing.
cp "$t/ref" "$m/direct"
remount_boafs "$a" "$m" -o recompress=off
python3 - "$m/direct" <<'PY'
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
for off in (0, 3 * 131072 + 4096, 17 * 131072):
    assert os.preadv(fd, [buf], off) == 4096
os.close(fd)
PY
sleep 1 # nothing to wait for: give a wrong push time to show
[ "$(resident_pages "$m/direct")" -eq 0 ] ||
	fail "O_DIRECT reads left $(resident_pages "$m/direct") pages in the page cache"

# Random reads return the file's bytes.
python3 - "$m/data" "$t/ref" <<'PY' || fail "random 4 KiB reads returned wrong bytes"
import os, random, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
ref = open(sys.argv[2], "rb").read()
rng = random.Random(12)
for _ in range(3000):
    off = rng.randrange(0, len(ref) - 4096)
    got = os.pread(fd, 4096, off)
    assert got == ref[off:off + 4096], off
os.close(fd)
PY
cmp "$t/ref" "$m/data" || fail "the file differs after random reads"

# Writes and truncates against pushes: random readers keep pushing blocks while a writer opens,
# writes a version stamp, closes, and reads it back with a new descriptor; a push with older
# bytes would show up as an older stamp.
python3 - "$m/data" <<'PY' || fail "a read after a write or truncate returned older bytes"
import os, random, struct, sys, multiprocessing as mp
path = sys.argv[1]
size = os.path.getsize(path)
bs = 131072

def reader(seed, stop):
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    rng = random.Random(seed)
    while not stop.is_set():
        os.pread(fd, 4096, rng.randrange(0, size - 4096) & ~4095)
    os.close(fd)

stop = mp.Event()
readers = [mp.Process(target=reader, args=(s, stop)) for s in range(3)]
for r in readers:
    r.start()
try:
    rng = random.Random(7)
    for v in range(1, 1001):
        off = rng.randrange(0, size // 4096) * 4096
        stamp = struct.pack("<Q", v) * 512
        fd = os.open(path, os.O_WRONLY)
        os.pwrite(fd, stamp, off)
        os.close(fd)
        fd = os.open(path, os.O_RDONLY)
        got = os.pread(fd, 4096, off)
        os.close(fd)
        assert got == stamp, "iteration %d offset %d: read %r" % (v, off, got[:8])
        if v % 50 == 0:
            # Truncate by path into a block (no descriptor), then grow back: the cut part reads
            # as zeros, not as bytes a push kept.
            cut = (rng.randrange(1, size // bs) * bs) + 12345
            os.truncate(path, cut)
            os.truncate(path, size)
            fd = os.open(path, os.O_RDONLY)
            tail = os.pread(fd, 8192, cut)
            os.close(fd)
            assert tail == bytes(8192), "iteration %d: bytes past a truncate at %d" % (v, cut)
finally:
    stop.set()
    for r in readers:
        r.join()
PY
remount_boafs "$a" "$m" -o recompress=off

# SIGTERM while random readers keep stores busy: the daemon stops the stores while it still
# serves reads, then exits 0 (libfuse drops reads it takes after its loop ends, and a store
# waiting for such a read's page would hang the daemon in the kernel). Bound: see unmount_busy.
pid=${_it_pid[$(realpath -m -- "$m")]}
python3 - "$m/data" <<'PY' &
import os, random, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
size = os.fstat(fd).st_size
rng = random.Random(3)
try:
    while True:
        for _ in range(4):
            os.pread(fd, 4096, rng.randrange(0, size - 4096) & ~4095)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # keep the reads coming
except OSError:
    pass  # the daemon is gone
PY
readers=$!
wait_for 60 eval '[ "$(resident_pages "$m/data")" -gt 0 ]' || fail "the reader read nothing"
kill -TERM "$pid"
wait_for 60 eval '! kill -0 '"$pid"' 2>/dev/null' ||
	fail "daemon still running 60s after SIGTERM with random readers"
wait "$readers" || true
unmount_boafs "$m" || fail "daemon did not exit cleanly after SIGTERM with random readers"
note "ok"
