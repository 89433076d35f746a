#!/usr/bin/env bash
# mmap: reading a file through a shared mapping gives its bytes; stores into a MAP_SHARED mapping
# (in place, across a block boundary, and into space made by ftruncate) reach the file after msync
# and munmap, as read(2) and a remount show.
. "$(dirname "$0")/lib.sh"
require_boafs

t=$(it_tmpdir)
mkdir "$t/mnt"
m=$t/mnt
mount_boafs "$t/archive" "$m"
make_data "$t/orig" 700000
cp "$t/orig" "$m/f"

python3 - "$m/f" "$t/want" <<'PY' || fail "mmap checks"
import mmap, os, sys
path, want_path = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    data = f.read()
with open(path, "r+b") as f:
    mm = mmap.mmap(f.fileno(), 0)
    assert mm[:] == data, "mapped bytes differ from read(2)"
    mm[1000:1010] = b"0123456789"
    mm[131072 - 5:131072 + 5] = b"ABCDEFGHIJ"  # across a 128 KiB block boundary
    mm.flush()
    mm.close()
    f.truncate(900000)
    mm = mmap.mmap(f.fileno(), 0)
    mm[850000:850004] = b"tail"
    mm.flush()
    mm.close()
want = bytearray(data)
want[1000:1010] = b"0123456789"
want[131072 - 5:131072 + 5] = b"ABCDEFGHIJ"
want += bytes(900000 - len(want))
want[850000:850004] = b"tail"
with open(want_path, "wb") as f:
    f.write(want)
with open(path, "rb") as f:
    assert f.read() == bytes(want), "read(2) after munmap differs"
PY
cmp "$t/want" "$m/f" || fail "file after mmap stores"
remount_boafs "$t/archive" "$m"
cmp "$t/want" "$m/f" || fail "file after mmap stores, after remount"
