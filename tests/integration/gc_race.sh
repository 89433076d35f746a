#!/usr/bin/env bash
# Compaction against writes in flight. Many small writers append, overwrite, truncate and
# recreate files with fsync after each write, on a 4K-block archive whose segments roll every
# 64 KiB, while the pool compacts every 100 ms. A segment that was just rolled holds records
# whose commit is still in flight (appended and being fdatasync'ed, not yet in the index): a
# compaction that took their absence from the index for death deleted them, and the accounting
# went wrong ("dead bytes exceed 0 live", a vanished segment). Each round runs until every writer
# has made 40 changes and the pool has compacted twice, then unmounts; `boa fsck` must find no problem (every extent's
# record readable, every segment's live bytes exact), the files must match their shadow copies,
# and the daemon must not have logged an accounting or gc failure.
. "$(dirname "$0")/lib.sh"
require_boafs
require_boa

t=$(it_tmpdir)
mkdir "$t/mnt" "$t/shadow"
export BOAFS_SEG_ROLL_BYTES=65536 BOAFS_GC_INTERVAL_MS=100
WRITERS=8
ROUNDS=3

# writer ID STOPFILE: small fsync'd writes to files in the mount, the same writes to shadow
# copies; at least 40 of them, then until STOPFILE exists, at most 150 (a bounded archive).
writer() {
	python3 - "$1" "$2" "$t/mnt" "$t/shadow" <<'PY'
import os, random, sys
wid, stop, mnt, shadow = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
rng = random.Random(wid * 7919 + os.getpid())
names = ["w%d-%d" % (wid, i) for i in range(3)]
ops = 0
while ops < 150 and (ops < 40 or not os.path.exists(stop)):
    ops += 1
    name = rng.choice(names)
    op = rng.random()
    paths = (os.path.join(mnt, name), os.path.join(shadow, name))
    if op < 0.05:
        for p in paths:
            if os.path.exists(p):
                os.unlink(p)
        continue
    fds = [os.open(p, os.O_RDWR | os.O_CREAT, 0o644) for p in paths]
    if op < 0.15:
        size = rng.randrange(0, 256 * 1024)
        for fd in fds:
            os.ftruncate(fd, size)
    else:
        # Mostly small writes; now and then one of many blocks, whose flush appends across
        # several segments (rolled by its own appends) before it commits.
        off = rng.randrange(0, 96 * 1024)
        if rng.random() < 0.2:
            data = rng.randbytes(rng.randrange(16 * 1024, 128 * 1024))
        else:
            data = bytes([rng.randrange(256)]) * rng.randrange(1, 6000) + rng.randbytes(rng.randrange(0, 64))
        for fd in fds:
            os.pwrite(fd, data, off)
    os.fsync(fds[0])
    for fd in fds:
        os.close(fd)
PY
}

gc_lines() { grep -c '^boafs: gc: .* segments compacted' "$1" || true; }

for ((round = 1; round <= ROUNDS; round++)); do
	mount_boafs "$t/archive" "$t/mnt" -o block_size=4K,recompress=off,threads=1
	log=$_it_log_file
	rm -f "$t/stop"
	pids=()
	for ((w = 0; w < WRITERS; w++)); do
		writer "$w" "$t/stop" &
		pids+=($!)
	done
	# The writers go on until each has made 40 changes and the pool has compacted twice while
	# they ran, or until they have made 150 (the pool then compacts after them). The bound is
	# for a sanitizer build on a machine with every core busy; a quiet one needs seconds.
	for ((i = 0; i < 6000; i++)); do
		[ "$(gc_lines "$log")" -ge 2 ] && break
		alive=0
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" -eq 1 ] || break
		sleep 0.1
	done
	touch "$t/stop"
	for p in "${pids[@]}"; do wait "$p" || fail "round $round: a writer failed"; done
	wait_for 600 eval '[ "$(gc_lines "$log")" -ge 1 ]' || true
	note "round $round: $(gc_lines "$log") compactions"
	[ "$(gc_lines "$log")" -ge 1 ] || fail "round $round: the pool did not compact"
	unmount_boafs "$t/mnt" || fail "round $round: unmount"
	if grep -E 'exceed|left in place|No such file' "$log"; then
		fail "round $round: the daemon logged an accounting or gc failure"
	fi
	rc=0
	"$BOA" fsck "$t/archive" >"$t/fsck" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] || fail "round $round: boa fsck exit $rc: $(cat "$t/fsck")"
	note "round $round: $(tail -n 1 "$t/fsck")"
done
mount_boafs "$t/archive" "$t/mnt" -o recompress=off
for f in "$t/shadow"/*; do
	cmp -- "$f" "$t/mnt/${f##*/}" || fail "${f##*/} differs from its shadow copy"
done
[ "$(ls "$t/shadow" | sort)" = "$(ls "$t/mnt" | sort)" ] || fail "file lists differ"
unmount_boafs "$t/mnt"
