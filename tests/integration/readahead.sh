#!/usr/bin/env bash
# Read-ahead on BOA blocks: a sequential read of a recompressed file asks the read-ahead
# workers for the blocks ahead and returns the file's bytes, also when its reads come out of
# order by a block; random reads ask for nothing ahead
# (each decodes only its own block). The daemon's count of blocks requested ahead, logged when
# it stops ("read-ahead: N blocks requested ahead"), tells which happened. A sequential read
# decodes each block once: the kernel's read-ahead sends several reads at once and the
# read-ahead workers decode ahead, but a read of a block whose decode is in progress waits for
# it ("B blocks decoded, W reads waited" in the same line).
. "$(dirname "$0")/lib.sh"
require_boafs
require_boa

t=$(it_tmpdir)
mkdir "$t/mnt"
a=$t/archive
m=$t/mnt

requested() { # LOG: blocks requested ahead during that mount (0 when it logged no line)
	local n
	n=$(sed -n 's/.*read-ahead: \([0-9]*\) blocks requested ahead.*/\1/p' "$1" | tail -1)
	echo "${n:-0}"
}
decoded() { # LOG: stored blocks decoded during that mount
	sed -n 's/.*; \([0-9]*\) blocks decoded.*/\1/p' "$1" | tail -1
}

make_data "$t/ref" $((1 << 20))
mount_boafs "$a" "$m" -o recompress=now,boa_level=1,threads=2
cp "$t/ref" "$m/data"
# Every block BOA-coded (or tried): a condition, however slow the machine.
wait_for 1200 eval '[ "$("$BOA" stats --json "$a" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"pending_blocks\"])")" = 0 ]' ||
	fail "recompression did not finish"
unmount_boafs "$m"
boa_blocks=$("$BOA" stats --json "$a" | python3 -c 'import json,sys; print(json.load(sys.stdin)["codecs"]["boa"]["blocks"])')
[ "$boa_blocks" -gt 0 ] || fail "no block was recompressed with BOA"

# Random reads, each in another block, never the next one: nothing requested ahead.
mount_boafs "$a" "$m" -o recompress=off,threads=2
log=${_it_log[$(realpath -m -- "$m")]}
python3 - "$m/data" "$t/ref" <<'PY' || fail "random reads returned wrong bytes"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
ref = open(sys.argv[2], "rb").read()
for block in (5, 1, 7, 3, 6, 0):
    off = block * 131072 + 4096
    assert os.pread(fd, 4096, off) == ref[off:off + 4096], block
os.close(fd)
PY
unmount_boafs "$m"
n=$(requested "$log")
[ "$n" -eq 0 ] || fail "random reads requested $n blocks ahead; log: $(cat "$log")"

# A sequential reader whose reads come out of order by one block, as the kernel's read-ahead
# reads do when FUSE threads take them at the same moment (here 0 2 1 4 3 6 5 7, one at a time,
# O_DIRECT so the kernel sends each as it is): still a sequential reader, so every block after
# the first is asked for ahead at least once (a reader taken for random would ask only for the
# first read's window, fewer than 7 blocks).
mount_boafs "$a" "$m" -o recompress=off,threads=2
log=${_it_log[$(realpath -m -- "$m")]}
python3 - "$m/data" "$t/ref" <<'PY' || fail "out-of-order reads returned wrong bytes"
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
ref = open(sys.argv[2], "rb").read()
buf = mmap.mmap(-1, 131072)
for block in (0, 2, 1, 4, 3, 6, 5, 7):
    assert os.preadv(fd, [buf], block * 131072) == 131072, block
    assert buf[:] == ref[block * 131072:(block + 1) * 131072], block
os.close(fd)
PY
unmount_boafs "$m"
n=$(requested "$log")
[ "$n" -ge 7 ] || fail "reads out of order by one requested $n blocks ahead; log: $(cat "$log")"

# A sequential read: blocks requested ahead, and the same bytes.
mount_boafs "$a" "$m" -o recompress=off,threads=2
log=${_it_log[$(realpath -m -- "$m")]}
cmp "$t/ref" "$m/data" || fail "sequential read of the BOA-coded file differs"
unmount_boafs "$m"
n=$(requested "$log")
[ "$n" -gt 0 ] || fail "a sequential read requested nothing ahead; log: $(cat "$log")"
d=$(decoded "$log")
note "sequential read: $n blocks requested ahead, $d blocks decoded; $(grep read-ahead: "$log")"
# The daemon's cache (default size) holds the whole file, so nothing is evicted and decoded
# twice: 8 blocks, 8 decodes, whatever the timing.
[ "$d" = 8 ] || fail "a sequential read of 8 blocks decoded $d blocks; log: $(cat "$log")"
note "ok"
