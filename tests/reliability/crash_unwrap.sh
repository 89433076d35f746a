#!/usr/bin/env bash
# kill -9 while the background pool unwraps the already-compressed files of tests/data/rootc, and
# while a write turns an unwrapped file back into plain blocks: after every crash `boa fsck` finds
# nothing wrong (an unwrapped file is regenerated whole) and every file reads back as it was, or,
# for the file being written, as it was before or after the write: a file switches form in one
# index transaction, so a crash leaves the old or the new form, never a mix.
#
# Environment: ITER (rounds, default 8), SEED.
. "$(dirname "$0")/rlib.sh"
require_boafs

ITER=${ITER:-8}
BOA=$(boa_tool fsck)
rootc=$BOAFS_SRC/tests/data/rootc

t=$(it_tmpdir)
a=$t/archive
m=$t/mnt
mkdir "$m" "$t/ref" "$t/alt"
cp "$rootc"/*.root "$rootc"/*.gz "$t/ref/"
mount_boafs "$a" "$m" -o recompress=off
cp "$t"/ref/* "$m/"
unmount_boafs "$m" || fail "first unmount"

# The files a round may write into: unwrapped by an earlier round, or not yet.
targets=(uproot-issue121.root uproot-mc10events.root uproot-Zmumu-lz4.root)
unwrapped_total=0
for ((round = 1; round <= ITER; round++)); do
	f=${targets[$((RANDOM % ${#targets[@]}))]}
	cp "$t/ref/$f" "$t/alt/$f"
	mount_boafs "$a" "$m" -o recompress=now,unwrap=zstd,threads=2
	# A write into the middle of one file, made in a reference copy too (the alternative the
	# crashed file may show), racing with the pool and with the kill.
	log=${_it_log[$(realpath -m -- "$m")]}
	rm -f "$t/acked"
	python3 - "$t/alt/$f" "$m/$f" "$round" "$t/acked" <<'PY' &
import os, sys
try:
    for path in sys.argv[1:3]:
        fd = os.open(path, os.O_WRONLY)
        data = ("round %s wrote here " % sys.argv[3]).encode() * 30
        os.pwrite(fd, data, os.fstat(fd).st_size // 3)
        os.fsync(fd)
        os.close(fd)
except OSError:  # the daemon died first
    sys.exit(0)
open(sys.argv[4], "w").close()  # fsync acknowledged the write into the mount
PY
	writer=$!
	# 0.1 s .. ITER + 1 s, longer each round: early kills land in scans and reverts, later ones
	# in encodes, verifications and commits, and files get unwrapped between crashes.
	sleep "$((RANDOM % (round + 1))).$((RANDOM % 10))1"
	kill_boafs "$m"
	wait "$writer" 2>/dev/null || true
	if [ -n "$BOA" ]; then
		out=$("$BOA" fsck "$a" 2>&1) || {
			printf '%s\n' "$out" >&2
			fail "round $round: boa fsck after the crash (archive kept in $a)"
		}
		note "round $round: $(printf '%s\n' "$out" | tail -n 2 | tr '\n' ' ')"
	fi
	mount_boafs "$a" "$m" -o recompress=off
	for g in "$t"/ref/*; do
		g=${g##*/}
		if cmp -s "$t/ref/$g" "$m/$g"; then
			continue
		fi
		[ "$g" = "$f" ] && cmp -s "$t/alt/$g" "$m/$g" ||
			fail "round $round: $g is neither as before nor as written (archive kept in $a)"
		cp "$t/alt/$g" "$t/ref/$g" # the write reached the file: it is the reference now
	done
	if [ -e "$t/acked" ]; then
		cmp -s "$t/alt/$f" "$m/$f" || fail "round $round: $f lost a write that fsync acknowledged"
		cp "$t/alt/$f" "$t/ref/$f"
	fi
	n=$(grep -c ': unwrapped ' "$log" || true)
	unmount_boafs "$m" || fail "round $round: unmount"
	unwrapped_total=$((unwrapped_total + n))
done
note "$ITER rounds, $unwrapped_total files unwrapped between crashes"
# Otherwise every kill came before the pool unwrapped anything, and nothing was shown.
[ "$unwrapped_total" -gt 0 ] || fail "no file was unwrapped in $ITER rounds"

