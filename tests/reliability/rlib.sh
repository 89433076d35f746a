# shellcheck shell=bash
# rlib.sh — what the reliability tests add to tests/integration/lib.sh (whose exit trap unmounts
# every mount a test made and fails the test if a daemon crashed): killing a daemon on purpose,
# the C helpers of this directory, and a seed printed so that a failure can be re-run.
#
# Source it first thing: `. "$(dirname "$0")/rlib.sh"`.
#
# Environment: SEED (default: the time) seeds every random choice of a run; the content the
# helpers write depends only on it, the timing of kills does not.
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../integration" && pwd)/lib.sh"

REL_SRC=$BOAFS_SRC/tests/reliability
SEED=${SEED:-$(date +%s)}
RANDOM=$SEED
note "SEED=$SEED (rerun with SEED=$SEED $0)"

# rel_helper NAME: prints the path of the C helper NAME (fsync_writer, exerciser, mdb_poke): the
# one meson built when it is there and not older than its source, else one compiled now into the
# test's temp dir (so the scripts also run by hand before meson knows this directory).
rel_helper() {
	local name=$1 built=$BOAFS_BUILD/tests/reliability/$1 src=$REL_SRC/$1.c out
	if [ -x "$built" ] && [ ! "$src" -nt "$built" ]; then
		printf '%s\n' "$built"
		return 0
	fi
	out=$IT_TMP/bin/$name
	if [ ! -x "$out" ]; then
		mkdir -p "$IT_TMP/bin"
		# shellcheck disable=SC2046
		${CC:-cc} -std=c17 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
			-o "$out" "$src" $(case $name in mdb_poke) echo -llmdb ;; esac) >&2 ||
			fail "cannot compile $src"
	fi
	printf '%s\n' "$out"
}

# boa_tool SUBCOMMAND: prints the built `boa` program when it has SUBCOMMAND (fsck, gc, ...),
# else nothing (a build without the CLI).
boa_tool() {
	local b
	for b in "$BOAFS_BUILD/boa" "$BOAFS_BUILD/codec/boa"; do
		if [ -x "$b" ] && "$b" "$1" --help >/dev/null 2>&1; then
			printf '%s\n' "$b"
			return 0
		fi
	done
}

# daemon_pid MNT: the pid of the foreground daemon that mount_boafs started for MNT.
daemon_pid() {
	local mnt
	mnt=$(realpath -m -- "$1")
	printf '%s\n' "${_it_pid[$mnt]:-}"
}
daemon_log() {
	local mnt
	mnt=$(realpath -m -- "$1")
	printf '%s\n' "${_it_log[$mnt]:-}"
}

# daemon_alive MNT: the daemon of MNT is running and MNT is still mounted.
daemon_alive() {
	local pid
	pid=$(daemon_pid "$1")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && is_mounted "$1"
}

# kill_boafs MNT: kill -9 the daemon of MNT (a crash), reap it, and detach the dead mount with
# `fusermount3 -uz`. The exit trap no longer owns MNT afterwards.
kill_boafs() {
	local mnt pid i
	mnt=$(realpath -m -- "$1")
	pid=${_it_pid[$mnt]:-}
	[ -n "$pid" ] || fail "kill_boafs: no daemon known for $mnt"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "_it_pid[$mnt]"
	for ((i = 0; i < 50; i++)); do
		is_mounted "$mnt" || break
		fusermount3 -u -z -- "$mnt" 2>/dev/null || umount -l -- "$mnt" 2>/dev/null || true
		sleep 0.1
	done
	is_mounted "$mnt" && fail "kill_boafs: $mnt still mounted after the daemon was killed"
	local -a keep=()
	for i in "${_it_mounts[@]}"; do
		[ "$i" = "$mnt" ] || keep+=("$i")
	done
	_it_mounts=(${keep[@]+"${keep[@]}"})
}

# no_sanitizer_report FILE WHAT: fails when FILE holds a sanitizer report.
no_sanitizer_report() {
	if grep -Eq 'ERROR: (Address|Leak|Thread|Memory|UndefinedBehavior)Sanitizer|runtime error:' "$1"; then
		sed 's/^/  | /' "$1" >&2
		fail "$2: sanitizer report"
	fi
}

# bug_note TEXT: prints a finding about the daemon, with what it takes to reproduce it.
bug_note() {
	printf 'BUG: %s\n' "$*" >&2
}

# rand_between VAR LO HI: sets VAR to a number in [LO, HI] from bash's RANDOM (seeded with SEED;
# a variable, not output: a $(...) subshell would not advance the parent's sequence).
rand_between() {
	printf -v "$1" '%d' $(($2 + RANDOM % ($3 - $2 + 1)))
}

# ---- the writers of crash.sh and powerloss.sh ----
# Both scripts set W (fsync_writer), m (the mountpoint), logs (a directory), WRITERS,
# FILES_PER_WRITER, CAP and SEED, and keep the arrays pids and ops_dirs and the count
# verified_bytes.

# start_writers ROUND: WRITERS data writers (appends of 1 byte..400 KiB, rewrites, fsync or
# fdatasync at random points, each logging what was acknowledged), a slow one whose blocks live
# long enough to be recompressed, and a directory-operation writer in ops$ROUND; their pids in
# `pids`.
start_writers() {
	local round=$1 w
	pids=()
	for ((w = 1; w <= WRITERS; w++)); do
		"$W" write "$m/data" "$logs/w$w.log" "w$w" "$FILES_PER_WRITER" \
			$((SEED * 1000 + round)) 60 "$CAP" >"$logs/w$w.out" 2>&1 &
		pids+=($!)
	done
	"$W" write "$m/data" "$logs/slow.log" slow 2 $((SEED * 1000 + round)) 60 "$CAP" 300000 \
		>"$logs/slow.out" 2>&1 &
	pids+=($!)
	"$W" dirops "$m/ops$round" "$logs/ops$round.log" $((SEED * 1000 + round)) 60 \
		>"$logs/ops.out" 2>&1 &
	pids+=($!)
	ops_dirs+=("ops$round")
}

# check_acknowledged ROUND ONFAIL: every byte the writers' logs say was acknowledged is there and
# unchanged, each directory-operation tree is in an acknowledged state, and every entry of the
# mount stats and reads; on a failure, `ONFAIL ROUND MESSAGE` (which must not return).
check_acknowledged() {
	local round=$1 onfail=$2 out d
	if [ -d "$m/data" ]; then
		out=$("$W" verify "$m/data" "$logs"/w*.log "$logs"/slow.log) || {
			printf '%s\n' "$out" >&2
			"$onfail" "$round" "acknowledged data lost or damaged"
		}
		note "round $round: $(printf '%s\n' "$out" | tail -n 1)"
		verified_bytes=$((verified_bytes + $(printf '%s\n' "$out" | tail -n 1 |
			sed -n 's/.* files, \([0-9]*\) acknowledged bytes.*/\1/p')))
	fi
	for d in ${ops_dirs[@]+"${ops_dirs[@]}"}; do
		out=$("$W" dirverify "$m/$d" "$logs/$d.log") || {
			printf '%s\n' "$out" >&2
			"$onfail" "$round" "directory operations of $d not in an acknowledged state"
		}
		note "round $round: $out"
	done
	out=$("$W" walk "$m") || {
		printf '%s\n' "$out" >&2
		"$onfail" "$round" "the tree is not consistent"
	}
	note "round $round: $out"
}

# crash_during_writes ROUND: lets the writers run for a random 0.2..1.2 s, checks that none has
# stopped, kill -9s the daemon (kill_boafs) and waits for the writers to exit: their next call
# fails, the connection being gone.
crash_during_writes() {
	local round=$1 delay=0 p i
	rand_between delay 2 12
	sleep "$((delay / 10)).$((delay % 10))"
	for p in "${pids[@]}"; do
		if ! kill -0 "$p" 2>/dev/null; then
			cat "$logs"/*.out >&2
			sed 's/^/  | /' "$(daemon_log "$m")" >&2
			fail "round $round: a writer stopped before the daemon was killed"
		fi
	done
	kill_boafs "$m"
	for p in "${pids[@]}"; do
		# EXIT_TIMEOUT (lib.sh): a writer's next call fails at once, but it may wait that
		# long for the CPU on a busy machine.
		for ((i = 0; i < EXIT_TIMEOUT * 10; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$p" 2>/dev/null; then
			kill -KILL "$p" 2>/dev/null || true
			fail "round $round: writer $p still running $EXIT_TIMEOUT s after the daemon was killed"
		fi
		wait "$p" 2>/dev/null || true
	done
}

# ---- the simulated power cut of powerloss.sh and powerloss_unwrap.sh ----

# pl_shim: the path of powerloss_shim.so, meson's when it is up to date, else one built now.
pl_shim() {
	local built=$BOAFS_BUILD/tests/reliability/powerloss_shim.so src=$REL_SRC/powerloss_shim.c
	local out=$IT_TMP/bin/powerloss_shim.so
	if [ -f "$built" ] && [ ! "$src" -nt "$built" ] && [ ! "$REL_SRC/powerloss.h" -nt "$built" ]; then
		printf '%s\n' "$built"
		return 0
	fi
	mkdir -p "$IT_TMP/bin"
	${CC:-cc} -std=c17 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -fPIC -shared -o "$out" \
		"$src" -ldl -lpthread >&2 || fail "cannot compile $src"
	printf '%s\n' "$out"
}

# pl_wrapper FILE: writes FILE, a program to start instead of boafs (BOAFS_BIN=FILE mount_boafs):
# the daemon with powerloss_shim.so preloaded, for this process only, with the archive, undo log
# and kill points of the moment (PL_ARCHIVE, PL_UNDO_LOG, PL_KILL_AFTER_DIRSYNCS,
# PL_KILL_BEFORE_SYNCS, PL_ARM: powerloss_shim.c).
pl_wrapper() {
	local shim asan_options=${ASAN_OPTIONS:-}
	shim=$(pl_shim)
	# An ASan daemon wants its runtime first in the library list; the shim comes before it.
	# (grep without -q in the pipe: an early exit would SIGPIPE ldd and, under pipefail, read
	# as false)
	if ldd "$BOAFS_BIN" 2>/dev/null | grep libasan >/dev/null || grep -aq __asan_init "$BOAFS_BIN"; then
		asan_options="${asan_options:+$asan_options:}verify_asan_link_order=0"
		note "sanitized daemon: the shim is preloaded with ASAN_OPTIONS=verify_asan_link_order=0"
	fi
	cat >"$1" <<EOF
#!/bin/sh
BOAFS_PL_DIR=\$PL_ARCHIVE BOAFS_PL_LOG=\$PL_UNDO_LOG \\
	BOAFS_PL_KILL_AFTER_DIRSYNCS=\${PL_KILL_AFTER_DIRSYNCS:-0} \\
	BOAFS_PL_KILL_BEFORE_SYNCS=\${PL_KILL_BEFORE_SYNCS:-0} BOAFS_PL_ARM=\${PL_ARM:-} \\
	LD_PRELOAD='$shim'\${LD_PRELOAD:+:\$LD_PRELOAD} ASAN_OPTIONS='$asan_options' \\
	exec '$BOAFS_BIN' "\$@"
EOF
	chmod +x "$1"
}
