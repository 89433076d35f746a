#!/usr/bin/env bash
# Power cuts (powerloss.sh's simulation: powerloss_shim.so logs what a cut could undo,
# powerloss_apply takes it back) at every durability point of the unwrap transform and of the
# revert that a write into an unwrapped file makes: after each cut `boa fsck` finds nothing wrong
# and the file reads back byte-identical, as it was or (for the write) as written, never a mix,
# and never without a write that fsync acknowledged.
#
# The cut points are the daemon's own fsync and fdatasync calls: round N runs the daemon with
# BOAFS_PL_KILL_BEFORE_SYNCS=N, so it kills itself right before its Nth sync of a file, with all
# it wrote since that file's last sync still undoable. N steps from 1 until a round's daemon ran
# to its clean exit without reaching its Nth sync. The transform is cut from the mount on (the
# pool starts at once): while its stream records are written, after their fdatasync, after the
# index commit's pages are synced but not its meta page, around the compaction that frees the
# plain blocks; the revert from the write on (BOAFS_PL_ARM: the syncs of the mount itself do not
# count): its plain records, its commit, then the written block and the fsync. Each cut is checked
# twice: with all unsynced writes lost (powerloss_apply --all-lost), and with a random part of
# them kept (--seed).
#
# The test also shows that its cuts hit the windows that matter: at least one cut leaves stream
# records on disk while the file is still plain (the transform cut in the middle), one leaves
# the file unwrapped, and during the revert one leaves the file as it was and one as written.
#
# Environment: SEED.
. "$(dirname "$0")/rlib.sh"
require_boafs
require_root

BOA=$(boa_tool fsck)
[ -n "$BOA" ] || skip "no boa with fsck in $BOAFS_BUILD"
APPLY=$(rel_helper powerloss_apply)
rootc=$BOAFS_SRC/tests/data/rootc
f=uproot-Zmumu-lz4.root # 21 LZ4 streams; unwrapped with zstd -19 in well under a second
# Bound for one round's pool to unwrap the file, compact and reach its end: a guard against a
# hang, sized for an ASan build at nice 19 on a loaded 2-core machine (the work takes ~1 CPU s
# in a plain build). Rounds end on conditions, never on this.
wait_s=${BOAFS_UNWRAP_WAIT:-300}
# A bound on the rounds of each phase: the transform and the revert make about five syncs each.
max_rounds=40

t=$(it_tmpdir)
a=$t/archive
m=$t/mnt
killed=$t/killed
wrapper=$t/boafs-with-shim
pl_log=$t/undo.log
mkdir "$m"
m=$(realpath "$m")
pl_wrapper "$wrapper"
export PL_ARCHIVE=$a PL_UNDO_LOG=$pl_log
cp "$rootc/$f" "$t/ref"
# The write of the revert rounds, and the file as it is after it.
cp "$t/ref" "$t/alt"
write_py='import os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY)
    os.pwrite(fd, b"a write into an unwrapped file " * 40, os.fstat(fd).st_size // 3)
    os.fsync(fd)
    os.close(fd)
except OSError:  # the daemon cut first
    sys.exit(0)
open(sys.argv[2], "w").close()  # fsync acknowledged the write'
python3 -c "$write_py" "$t/alt" "$t/alt-done" || fail "writing the reference"
[ -e "$t/alt-done" ] || fail "writing the reference"

# The plain archive: the file written with the pool off.
mount_boafs "$t/base-plain" "$m" -o recompress=off
cp "$t/ref" "$m/$f"
ino=$(stat -c %i "$m/$f")
unmount_boafs "$m" || fail "unmount of the plain archive"

# stream_records ARCHIVE: the number of stream-block records of the file in ARCHIVE's segments,
# referenced or not (index/FORMAT.md: 48-byte headers, ino and block at 24).
stream_records() {
	python3 - "$1/seg" "$ino" <<'PY'
import glob, struct, sys
n = 0
for path in sorted(glob.glob(sys.argv[1] + "/*.seg")):
    data = open(path, "rb").read()
    off = 0
    while off + 48 <= len(data) and data[off:off + 4] == b"BOAR":
        stored, = struct.unpack_from("<I", data, off + 16)
        ino, block = struct.unpack_from("<QQ", data, off + 24)
        n += ino == int(sys.argv[2]) and block >= 1 << 62
        off += 48 + stored
print(n)
PY
}

# unwrapped_files ARCHIVE: how many files ARCHIVE holds unwrapped (boa stats, offline).
unwrapped_files() {
	"$BOA" stats --json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["unwrapped"]["files"])'
}

# start_cut N ARM ARGS...: mounts $a on $m with the shim, to cut right before its Nth sync (made
# while the file ARM exists, when ARM is not empty); a daemon that cuts before the mount is up is
# fine too.
start_cut() {
	local n=$1 arm=$2 pid i
	shift 2
	rm -f "$pl_log"
	_it_new_log
	PL_KILL_BEFORE_SYNCS=$n PL_ARM=$arm "$wrapper" "$a" "$m" -f "$@" </dev/null \
		>"$_it_log_file" 2>&1 &
	pid=$!
	_it_pid[$m]=$pid
	_it_log[$m]=$_it_log_file
	_it_mounts+=("$m")
	for ((i = 0; i < MOUNT_TIMEOUT * 10; i++)); do
		is_mounted "$m" && return 0
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	fail "round $round: $m not mounted after ${MOUNT_TIMEOUT}s"
}

# finish_cut ROUND DONE_CMD...: waits until the daemon has cut (killed itself) or DONE_CMD
# succeeds; a daemon still running then is unmounted, and may cut in its unmount. Leaves $m
# detached. Returns 0 when the daemon cut, 1 when it exited by itself: N lies past its last sync.
cut_or_done() { ! kill -0 "$cut_pid" 2>/dev/null || "$@"; }
finish_cut() {
	local round=$1 pid rc=0 i
	shift
	pid=${_it_pid[$m]}
	cut_pid=$pid
	wait_for "$wait_s" cut_or_done "$@" ||
		{ sed 's/^/  | /' "${_it_log[$m]}" >&2; fail "round $round: neither a cut nor done in ${wait_s}s"; }
	if kill -0 "$pid" 2>/dev/null; then
		for ((i = 0; i < 60; i++)); do
			is_mounted "$m" || break
			fusermount3 -u -- "$m" 2>/dev/null && break
			sleep 0.5
		done
	fi
	for ((i = 0; i < EXIT_TIMEOUT * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	{ wait "$pid"; } 2>/dev/null || rc=$?
	kill_boafs "$m" # detaches what the cut left mounted
	no_sanitizer_report "${_it_log[$m]}" "round $round"
	[ "$rc" -eq 137 ] && return 0
	[ "$rc" -eq 0 ] || { sed 's/^/  | /' "${_it_log[$m]}" >&2; fail "round $round: daemon exited $rc"; }
	return 1
}

# check_cut ROUND HOW WANT...: applies the power cut (powerloss_apply HOW) to a copy of the killed
# archive, fscks it, and checks that the file reads back as one of the WANT files; sets cut_form
# (unwrapped or plain), cut_content (the index of the WANT it matched) and cut_streams (the
# stream records on disk).
check_cut() {
	local round=$1 how=$2 out i=0 w
	shift 2
	rm -rf "$a"
	cp -a "$killed" "$a"
	out=$("$APPLY" $how --relocate "$killed" "$a" "$pl_log" 2>&1) ||
		fail "round $round ($how): powerloss_apply failed: $out"
	out=$("$BOA" fsck "$a" 2>&1) ||
		{ printf '%s\n' "$out" >&2; fail "round $round ($how): boa fsck after the cut"; }
	cut_form=plain
	[ "$(unwrapped_files "$a")" -eq 1 ] && cut_form=unwrapped
	cut_streams=$(stream_records "$a")
	mount_boafs "$a" "$m" -o recompress=off || fail "round $round ($how): mount after the cut"
	for w in "$@"; do
		cmp -s "$w" "$m/$f" && break
		i=$((i + 1))
	done
	[ "$i" -lt $# ] || {
		cmp "$1" "$m/$f" >&2 || true
		fail "round $round ($how): $f reads back as neither the old nor the new bytes" \
			"($cut_form)"
	}
	cut_content=$i
	unmount_boafs "$m" || fail "round $round ($how): unmount after the checks"
}

# ---- the transform ----
cut_mid=0 cut_unwrapped=0 cut_plain=0
for ((round = 1; ; round++)); do
	[ "$round" -le "$max_rounds" ] || fail "the transform still cut after $max_rounds rounds"
	rm -rf "$a"
	cp -a "$t/base-plain" "$a"
	start_cut "$round" "" -o recompress=now,unwrap=zstd,threads=1
	# Done: the pool unwrapped the file and compacted the segment of its plain blocks.
	log=${_it_log[$m]}
	finish_cut "$round" grep -q '^boafs: gc: ' "$log" || break
	rm -rf "$killed"
	cp -a "$a" "$killed"
	for how in --all-lost "--seed $((SEED * 100 + round))"; do
		check_cut "$round" "$how" "$t/ref"
		note "transform, cut before sync $round ($how): $cut_form, $cut_streams stream" \
			"records on disk"
		if [ "$cut_form" = unwrapped ]; then
			cut_unwrapped=$((cut_unwrapped + 1))
		else
			cut_plain=$((cut_plain + 1))
			[ "$cut_streams" -eq 0 ] || cut_mid=$((cut_mid + 1))
		fi
	done
done
grep -q ": unwrapped " "$log" || fail "the round without a cut did not unwrap $f"
note "transform: $((round - 1)) cut points; $cut_plain cuts left it plain ($cut_mid of them" \
	"with stream records written), $cut_unwrapped unwrapped"
[ "$cut_mid" -gt 0 ] || fail "no cut fell between the stream records and the commit"
[ "$cut_unwrapped" -gt 0 ] || fail "no cut came after the commit"
# The archive of the round that ran to its end: the file unwrapped, cleanly unmounted.
[ "$(unwrapped_files "$a")" -eq 1 ] || fail "the file is not unwrapped after a clean run"
mount_boafs "$a" "$m" -o recompress=off || fail "mount after the clean run"
cmp "$t/ref" "$m/$f" || fail "$f differs after the clean run"
unmount_boafs "$m" || fail "unmount after the clean run"
rm -rf "$t/base-unwrapped"
cp -a "$a" "$t/base-unwrapped"

# ---- the revert ----
cut_old=0 cut_new=0
for ((round = 1; ; round++)); do
	[ "$round" -le "$max_rounds" ] || fail "the revert still cut after $max_rounds rounds"
	rm -rf "$a" "$t/arm" "$t/acked"
	cp -a "$t/base-unwrapped" "$a"
	start_cut "$round" "$t/arm" -o recompress=off
	is_mounted "$m" || fail "revert round $round: the daemon cut before the write"
	touch "$t/arm"
	python3 -c "$write_py" "$m/$f" "$t/acked" &
	writer=$!
	finish_cut "$round" test -e "$t/acked" || { wait "$writer"; break; }
	wait "$writer" || fail "revert round $round: the writer failed"
	rm -rf "$killed"
	cp -a "$a" "$killed"
	for how in --all-lost "--seed $((SEED * 100 + 50 + round))"; do
		check_cut "$round" "$how" "$t/ref" "$t/alt"
		note "revert, cut before sync $round ($how): $cut_form, $([ "$cut_content" = 0 ] &&
			echo old || echo written) bytes"
		if [ "$cut_content" = 0 ]; then
			[ ! -e "$t/acked" ] || fail "revert round $round ($how): a write fsync acknowledged is lost"
			cut_old=$((cut_old + 1))
		else
			[ "$cut_form" = plain ] || fail "revert round $round ($how): written bytes, unwrapped form"
			cut_new=$((cut_new + 1))
		fi
	done
done
[ -e "$t/acked" ] || fail "the write of the clean run was not acknowledged"
mount_boafs "$a" "$m" -o recompress=off || fail "mount after the clean revert"
cmp "$t/alt" "$m/$f" || fail "$f differs after the clean revert"
unmount_boafs "$m" || fail "unmount after the clean revert"
note "revert: $((round - 1)) cut points; $cut_old cuts left the file as it was, $cut_new as written"
[ "$cut_old" -gt 0 ] && [ "$cut_new" -gt 0 ] || fail "the cuts did not span the revert and the write"
