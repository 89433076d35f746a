#!/usr/bin/env bash
# Unmount and SIGTERM never wait for a block encode:
# - with the recompression pool in the middle of BOA level-7 (Mamba) encodes of 1 MiB blocks, unmount
#   completes, the daemon exits 0 and says it cut its encodes short (not: let them finish);
# - the same with SIGTERM to the daemon;
# - afterwards fsck is clean, the file reads back byte for byte and blocks are still waiting for
#   recompression (the encodes were cut short, not finished).
. "$(dirname "$0")/lib.sh"
require_boafs
require_boa

t=$(it_tmpdir)
mkdir "$t/mnt"
a=$t/archive
m=$t/mnt
# 1 MiB blocks at level 7 (the Mamba tier, ~0.12 MB/s per core): one encode takes seconds of CPU
# even in an optimized build, so an
# unmount that waited for it would be plain, and the pool is certainly mid-encode when we stop it.
busy_opts=recompress=now,boa_level=7,block_size=1M,threads=2

# worker_cpu_ticks PID: CPU ticks used so far by the daemon's recompression workers, the threads
# that run at nice 19.
worker_cpu_ticks() {
	python3 - "$1" <<'PY'
import os, sys
total = 0
task = "/proc/%s/task" % sys.argv[1]
for tid in os.listdir(task):
    try:
        stat = open(os.path.join(task, tid, "stat")).read()
    except OSError:
        continue
    f = stat[stat.rindex(")") + 2:].split()
    if int(f[16]) == 19:          # field 19, nice
        total += int(f[11]) + int(f[12])  # fields 14, 15: utime, stime
print(total)
PY
}

# wait_pool_busy MNT: waits until the workers have spent half a second of CPU, well into the
# first encode of a 1 MiB block at level 7 (several seconds of CPU) and far from its end.
wait_pool_busy() {
	local pid=${_it_pid[$(realpath -m -- "$1")]}
	wait_for 600 eval '[ "$(worker_cpu_ticks "'"$pid"'")" -ge $(($(getconf CLK_TCK) / 2)) ]' ||
		fail "the recompression pool never started"
}

pending_blocks() {
	"$BOA" stats --json "$a" | python3 -c 'import json, sys; print(json.load(sys.stdin)["pending_blocks"])'
}

# How long the daemon may take to exit once told to stop. Cancelling an encode takes a few
# hundred bytes of coding (milliseconds), but the workers run at nice 19: under ASan on a machine
# with both cores busy (load ~20) such a thread gets a fraction of a percent of a core, so it
# may wait seconds for the CPU to notice the flag and return. 60 s is generous for that and
# still far below one 1 MiB level-7 encode under those conditions (many minutes). The log line
# checked below proves the encodes were cut short rather than finished.
STOP_BOUND=60

make_data "$t/ref" $((32 << 20))
mount_boafs "$a" "$m" -o recompress=off,block_size=1M
cp "$t/ref" "$m/data"
unmount_boafs "$m"

# Unmount while the pool encodes.
mount_boafs "$a" "$m" -o "$busy_opts"
log=${_it_log[$(realpath -m -- "$m")]}
wait_pool_busy "$m"
start=$(date +%s%N)
fusermount3 -u -- "$m" || fail "unmount refused while the pool was busy"
pid=${_it_pid[$(realpath -m -- "$m")]}
wait_for $STOP_BOUND eval '! kill -0 '"$pid"' 2>/dev/null' ||
	fail "daemon still running ${STOP_BOUND}s after unmount with the pool busy"
ms=$((($(date +%s%N) - start) / 1000000))
note "unmount with the pool busy: daemon gone after ${ms} ms"
unmount_boafs "$m" || fail "daemon did not exit cleanly after unmount"
grep -q "recompression stopped: [0-9]* encodes cut short" "$log" ||
	fail "the daemon did not cut its encodes short; log: $(cat "$log")"
out=$("$BOA" fsck "$a") || fail "fsck after unmount with the pool busy: $out"
p=$(pending_blocks)
[ "$p" -gt 0 ] || fail "no block left to recompress: the pool finished instead of stopping"
note "pending blocks after unmount: $p of 32"

# SIGTERM while the pool encodes: the daemon unmounts itself and exits 0.
mount_boafs "$a" "$m" -o "$busy_opts"
log=${_it_log[$(realpath -m -- "$m")]}
pid=${_it_pid[$(realpath -m -- "$m")]}
wait_pool_busy "$m"
start=$(date +%s%N)
kill -TERM "$pid"
wait_for $STOP_BOUND eval '! kill -0 '"$pid"' 2>/dev/null' ||
	fail "daemon still running ${STOP_BOUND}s after SIGTERM with the pool busy"
ms=$((($(date +%s%N) - start) / 1000000))
note "SIGTERM with the pool busy: daemon gone after ${ms} ms"
unmount_boafs "$m" || fail "daemon did not exit cleanly after SIGTERM"
grep -q "recompression stopped: [0-9]* encodes cut short" "$log" ||
	fail "the daemon did not cut its encodes short on SIGTERM; log: $(cat "$log")"
out=$("$BOA" fsck "$a") || fail "fsck after SIGTERM with the pool busy: $out"

mount_boafs "$a" "$m" -o recompress=off
cmp "$t/ref" "$m/data" || fail "data differs after stopping the pool mid-encode"
unmount_boafs "$m"
note "ok"
