#!/usr/bin/env bash
# What fsync acknowledged survives a power cut, not only a crash of the daemon.
#
# A kill -9 (crash.sh) leaves every write of the daemon in the kernel's page cache, so it cannot
# show a missing fdatasync, or an index commit that reaches the disk before the segment bytes it
# points to. Without device-mapper here, the power cut is simulated: the daemon runs with
# powerloss_shim.so preloaded, which logs, before each write to a file of the archive, the old
# content of the pages it touches, and each fsync/fdatasync of a file or directory. After the
# kill -9, powerloss_apply takes back what no fsync had covered: every page written since its
# file's last fsync is either written back or lost (old content restored), each file's size is
# the one at its last fsync or the current one, and a name created since the last fsync of its
# directory stays or goes. Every other pair of rounds loses all of it (--all-lost, the worst
# case); the others choose at random from a seed.
#
# ITER times (default 8; by hand e.g. ITER=200): mount the archive with the shim (only the boafs
# process gets LD_PRELOAD, through a wrapper given to mount_boafs as BOAFS_BIN); start the same
# writers as crash.sh (3 data writers, a slow one, one directory-operation writer; every other
# round -o recompress=now); kill -9 the daemon after a random 0.2..1.2 s; detach the mount; apply
# the power cut; `boa fsck` the archive; mount it without the shim and check it as crash.sh does
# (fsync_writer verify, dirverify, walk): every acknowledged byte must be there; unmount cleanly.
#
# On a failure the archive as the kill left it (before the power cut was applied), the undo log
# and the writers' logs are kept in a directory under PL_KEEP (default $TMPDIR or /tmp), with the
# powerloss_apply command that reproduces the state that failed.
#
# The archive is created by a mount without the shim before the first round. Two probes follow
# the rounds, each a power cut at a moment that a random kill hits too rarely (the shim kills the
# daemon itself right after its Nth directory fsync), each for a bug this test found:
#   fresh archive: a file written and fsynced into a new archive, then the cut (the archive's
#     directories and index/data.mdb were never fsynced: the cut took the whole archive);
#   gc window: a half-dead segment is compacted at mount; the cut falls right after gc unlinked
#     it and fsynced seg/ (gc did not sync the index commit that moved the live records first:
#     after the cut the index pointed into the removed segment).
#
# Environment: ITER, SEED, CRASH_BLOCK_SIZE, CRASH_CAP (as crash.sh), PL_KEEP.
. "$(dirname "$0")/rlib.sh"
require_boafs
require_root

ITER=${ITER:-8}
BOA=$(boa_tool fsck)
[ -n "$BOA" ] || note "no boa fsck in $BOAFS_BUILD: the archive is not checked offline"
BLOCK_SIZE=${CRASH_BLOCK_SIZE:-16K}
CAP=${CRASH_CAP:-2097152}
WRITERS=3
FILES_PER_WRITER=3
W=$(rel_helper fsync_writer)
APPLY=$(rel_helper powerloss_apply)

t=$(it_tmpdir)
a=$t/archive
m=$t/mnt
logs=$t/logs
pl_log=$t/undo.log
before_cut=$t/before-cut
wrapper=$t/boafs-with-shim
mkdir "$m" "$logs"

verified_bytes=0
reverted_pages=0
kept_pages=0
kills=0
ops_dirs=()
apply_args=()

# pl_fail ROUND WHAT: keeps what reproduces the failure, then fails.
pl_fail() {
	local keep
	keep=$(mktemp -d "${PL_KEEP:-${TMPDIR:-/tmp}}/boafs-powerloss-fail.XXXXXX") || fail "$2"
	[ -d "$before_cut" ] && cp -a "$before_cut" "$keep/archive"
	[ -f "$pl_log" ] && cp "$pl_log" "$keep/undo.log"
	cp -a "$logs" "$keep/logs"
	cat >"$keep/README" <<EOF
powerloss.sh round $1 (SEED=$SEED): $2
archive/ is the archive as the kill -9 left it, undo.log what the shim logged, logs/ what the
writers had acknowledged. The state that failed, again:
  cp -a archive /tmp/pl-archive
  $APPLY ${apply_args[*]} --relocate $a /tmp/pl-archive undo.log
  $BOAFS_BIN /tmp/pl-archive MNT -f &
  $W verify MNT/data logs/w*.log logs/slow.log
EOF
	printf 'powerloss: evidence kept in %s\n' "$keep" >&2
	fail "round $1: $2"
}

# check_all ROUND: the checks of crash.sh, on the archive after the power cut.
check_all() { check_acknowledged "$1" pl_fail; }

# fsck_offline ROUND WHEN: boa fsck (read-only) finds nothing wrong with the unmounted archive.
fsck_offline() {
	local out rc=0
	[ -n "$BOA" ] || return 0
	out=$("$BOA" fsck "$a" 2>&1) || rc=$?
	if [ "$rc" -ne 0 ]; then
		printf '%s\n' "$out" >&2
		pl_fail "$1" "$2: boa fsck exited $rc"
	fi
	note "round $1, $2: $(printf '%s\n' "$out" | tail -n 1)"
}

pl_wrapper "$wrapper"
export PL_ARCHIVE=$a PL_UNDO_LOG=$pl_log PL_KILL_AFTER_DIRSYNCS=0

mount_boafs "$a" "$m" -o block_size="$BLOCK_SIZE" || fail "creating the archive failed"
mkdir "$m/data"
unmount_boafs "$m" || fail "unmount of the new archive failed"

for ((round = 1; round <= ITER; round++)); do
	opts=()
	[ $((round % 2)) -eq 0 ] && opts=(-o recompress=now -o threads=1 -o boa_level=1)
	rm -f "$pl_log"
	BOAFS_BIN=$wrapper mount_boafs "$a" "$m" ${opts[@]+"${opts[@]}"} ||
		fail "round $round: mount with the shim failed"
	mkdir -p "$m/data"

	start_writers "$round"

	crash_during_writes "$round"
	kills=$((kills + 1))

	# The power cut. Rounds 3-4, 7-8, ... lose everything unsynced; the others a random part.
	rm -rf "$before_cut"
	cp -a "$a" "$before_cut"
	if [ $(((round - 1) / 2 % 2)) -eq 1 ]; then
		apply_args=(--all-lost)
	else
		apply_args=(--seed $((SEED * 1000 + round)))
	fi
	out=$("$APPLY" "${apply_args[@]}" "$pl_log" 2>&1) ||
		pl_fail "$round" "powerloss_apply failed: $out"
	note "round $round: $out"
	records=$(printf '%s\n' "$out" | sed -n 's/^powerloss_apply: \([0-9]*\) records.*/\1/p')
	[ "${records:-0}" -gt 0 ] || fail "round $round: the shim logged nothing (is it preloaded?)"
	reverted_pages=$((reverted_pages + $(printf '%s\n' "$out" |
		sed -n 's/.*: \([0-9]*\) pages reverted.*/\1/p')))
	kept_pages=$((kept_pages + $(printf '%s\n' "$out" |
		sed -n 's/.* \([0-9]*\) pages kept.*/\1/p')))
	fsck_offline "$round" "after the power cut"

	mount_boafs "$a" "$m" || pl_fail "$round" "mount after the power cut failed"
	check_all "$round"
	for d in ${ops_dirs[@]+"${ops_dirs[@]}"}; do
		rm -rf -- "${m:?}/$d" || pl_fail "$round" "rm -rf $d after the power cut failed"
	done
	ops_dirs=()
	unmount_boafs "$m" || pl_fail "$round" "unmount after the checks failed"
done
fsck_offline "$ITER" "at the end"

# ---- probes: a power cut at a chosen moment ----

# cut_at_dirsync ARCHIVE MNT N: runs the daemon with the shim on ARCHIVE until it kills itself
# right after its Nth directory fsync (or MOUNT_TIMEOUT, 120 s, has passed: the compaction it
# waits for runs in the nice-19 pool, slow on a busy machine), detaches the mount, and applies the
# worst case. Returns 1 when the daemon never got there.
cut_at_dirsync() {
	local archive=$1 mnt=$2 i reached=1 out
	mnt=$(realpath -m -- "$mnt")
	rm -f "$pl_log"
	_it_new_log
	PL_ARCHIVE=$archive PL_KILL_AFTER_DIRSYNCS=$3 "$wrapper" "$archive" "$mnt" -f \
		</dev/null >"$_it_log_file" 2>&1 &
	_it_pid[$mnt]=$!
	_it_log[$mnt]=$_it_log_file
	_it_mounts+=("$mnt")
	# stderr aside: bash reports the job that the shim killed ("Killed") while this waits.
	{
		for ((i = 0; i < MOUNT_TIMEOUT * 10; i++)); do
			kill -0 "${_it_pid[$mnt]}" || break
			sleep 0.1
		done
		if kill -0 "${_it_pid[$mnt]}"; then
			reached=0
		else
			wait "${_it_pid[$mnt]}" || true
		fi
	} 2>/dev/null
	kill_boafs "$mnt"
	out=$("$APPLY" --all-lost "$pl_log") || fail "probe: powerloss_apply failed: $out"
	note "probe: $out"
	return $((!reached))
}

# Probe 1: a new archive, a file fsynced into it (and its directory), the cut.
pa=$t/probe-fresh
mkdir "$pa" # the shim resolves the archive directory when the daemon starts
rm -f "$pl_log"
PL_ARCHIVE=$pa BOAFS_BIN=$wrapper mount_boafs "$pa" "$m" || fail "probe: mount with the shim failed"
head -c 1000000 /dev/urandom >"$t/probe-file"
cp "$t/probe-file" "$m/file"
sync "$m/file" "$m" || fail "probe: fsync of a new file failed"
kill_boafs "$m"
out=$("$APPLY" --all-lost "$pl_log") || fail "probe: powerloss_apply failed: $out"
note "probe fresh archive: $out"
left=$(ls -A "$pa" | tr '\n' ' ')
mount_boafs "$pa" "$m" || fail "probe: mount after the power cut failed"
cmp -s "$t/probe-file" "$m/file" ||
	fail "probe fresh archive: a file fsynced into a new archive is gone after a power cut" \
		"(the cut left in ARCHIVE: ${left:-nothing}; are ARCHIVE/, index/ and seg/ fsynced" \
		"after the archive is created?)"
note "probe fresh archive: the fsynced file survived the cut"
unmount_boafs "$m" || fail "probe: unmount failed"

# Probe 2: the cut right after compaction removed a segment. Ten 1 MB files, six of them
# deleted (both fsynced), so that segment 1 is mostly dead when the next mount compacts it; the
# shim kills that mount right after its 2nd directory fsync: the 1st follows the creation of the
# segment the live records move to, the 2nd the unlink of segment 1.
pa=$t/probe-gc
mount_boafs "$pa" "$m" -o block_size=16K || fail "probe: mount failed"
for i in 0 1 2 3 4 5 6 7 8 9; do
	head -c 1000000 /dev/urandom >"$m/f$i"
done
sync "$m"/f* "$m" || fail "probe: fsync failed"
rm "$m"/f[0-5]
sync "$m" || fail "probe: fsync of the directory failed"
(cd "$m" && sha256sum f6 f7 f8 f9) >"$t/probe-sums"
unmount_boafs "$m" || fail "probe: unmount failed"
before=$(ls "$pa/seg" | tr '\n' ' ')
if ! cut_at_dirsync "$pa" "$m" 2; then
	note "probe gc window INCONCLUSIVE: the daemon made no 2nd directory fsync (segments:" \
		"$before); the probe needs updating to what compaction does now"
elif [ -e "$pa/seg/0000000000000001.seg" ]; then
	note "probe gc window INCONCLUSIVE: segment 1 was not compacted (segments now:" \
		"$(ls "$pa/seg" | tr '\n' ' ')); the probe needs updating to what compaction does now"
else
	mount_boafs "$pa" "$m" || fail "probe: mount after the power cut failed"
	out=$(cd "$m" && sha256sum -c "$t/probe-sums" 2>&1) ||
		fail "probe gc window: files fsynced before compaction damaged by a power cut right" \
			"after gc removed their old segment (is the index synced before seg_remove?):" \
			"$(printf '%s\n' "$out" | grep -v ': OK$' | tr '\n' ' ')"
	note "probe gc window: the files fsynced before compaction are intact"
	unmount_boafs "$m" || fail "probe: unmount failed"
fi
note "$kills power cuts (kill -9, then $reverted_pages unsynced pages reverted and $kept_pages" \
	"written back in all), $ITER mounts checked, $verified_bytes acknowledged bytes verified"
