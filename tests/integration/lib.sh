# shellcheck shell=bash
# lib.sh — helpers for the integration tests, which run against real boafs mounts.
#
# Source it first thing in a test: `. "$(dirname "$0")/lib.sh"`. It sets `set -euo pipefail` and
# installs a trap on EXIT/INT/TERM that unmounts every mount this test made (and any other mount
# found under its temp dirs), waits for the daemons, then removes the temp dirs. A daemon that
# exits non-zero, dies of a signal, or writes a sanitizer report fails the test even if every
# assertion passed.
#
# Environment (set by tests/meson.build): BOAFS_SRC, BOAFS_BUILD, HEP_DATA. BOAFS_BIN overrides
# the daemon binary, BOAFS_MOUNT_TIMEOUT (seconds, default 120) how long a mount may take, and
# BOAFS_EXIT_TIMEOUT (seconds, default 60) how long a daemon may take to exit after its unmount.
# Both bounds only decide when a test gives up on a daemon that hangs: a healthy one takes well
# under a second, but an ASan build on a machine with both cores busy (load ~20) runs 10-30 times
# slower, and a bound sized for a quiet machine would fail there.
# Exit status 77 means "skipped" to meson.
set -euo pipefail

: "${BOAFS_BUILD:?BOAFS_BUILD must name the meson build directory}"
: "${BOAFS_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${HEP_DATA:=$BOAFS_SRC/tests/data/hep}"
BOAFS_BIN=${BOAFS_BIN:-$BOAFS_BUILD/fs/boafs}
BOA=$BOAFS_BUILD/boa # the archive tools; require_boa checks it is built
PREAD_CHECK=${PREAD_CHECK:-$BOAFS_BUILD/tests/integration/pread_check}
MOUNT_TIMEOUT=${BOAFS_MOUNT_TIMEOUT:-120}
EXIT_TIMEOUT=${BOAFS_EXIT_TIMEOUT:-60}
TEST_NAME=$(basename "$0" .sh)
export LC_ALL=C

_it_tmpdirs=()
_it_mounts=()           # mountpoints made by mount_boafs*, in mount order
declare -A _it_pid=()   # mountpoint -> pid of its foreground (-f) daemon
declare -A _it_log=()   # mountpoint -> daemon log file
declare -A _it_dpid=()  # mountpoint -> pid of its detached daemon (not our child)
_it_daemon_failed=0
_it_log_no=0

note() { printf '# %s\n' "$*"; }
skip() {
	printf 'SKIP: %s\n' "$*"
	exit 77
}
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

# The daemon must exist: a missing binary is a failure, not a skip (meson builds it first).
require_boafs() {
	[ -x "$BOAFS_BIN" ] || fail "daemon not built: $BOAFS_BIN"
}
require_boa() {
	[ -x "$BOA" ] || fail "boa not built: $BOA"
}
require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "$c not installed"
	done
}
require_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
}

# it_tmpdir: prints the path of a new temp dir. It lies inside IT_TMP, the test's own temp dir,
# made when lib.sh is sourced (not in a $(...) subshell, which could not register it) and removed
# at exit after everything mounted below it has been unmounted.
it_tmpdir() {
	mktemp -d "$IT_TMP/tmp.XXXXXX"
}

# Mountpoints in the kernel's table, one per line (octal escapes of mountinfo decoded). Reads
# /proc/self/mountinfo only: never stats a mount, so a hung or dead daemon cannot block us.
_it_mount_table() {
	awk '{ print $5 }' /proc/self/mountinfo | while IFS= read -r m; do printf '%b\n' "${m//\\/\\0}"; done
}
# is_mounted MNT: true if MNT is a mountpoint right now.
is_mounted() {
	local m
	m=$(realpath -m -- "$1")
	# grep without -q: an early exit would SIGPIPE the writer and, under pipefail, read as false.
	_it_mount_table | grep -Fx -- "$m" >/dev/null
}
# mounts_under DIR: every mountpoint at or below DIR, deepest first.
mounts_under() {
	local d
	d=$(realpath -m -- "$1")
	_it_mount_table | awk -v d="$d" 'index($0, d "/") == 1 || $0 == d' | sort -r
}

# Sets _it_log_file to a new daemon log path (a variable, not output: $(...) would run in a
# subshell and lose the counter).
_it_new_log() {
	_it_log_no=$((_it_log_no + 1))
	_it_log_file=$IT_TMP/daemon-$_it_log_no.log
}

# mount_boafs ARCHIVE MNT [boafs args...]: starts `boafs ARCHIVE MNT -f ARGS` in the background
# (stderr to a log we print on failure) and waits until MNT is mounted. Returns non-zero (and
# prints the log) if the daemon exits first or the mount does not appear in time.
mount_boafs() {
	local archive=$1 mnt=$2 log pid waited=0
	shift 2
	mnt=$(realpath -m -- "$mnt")
	_it_new_log
	log=$_it_log_file
	"$BOAFS_BIN" "$archive" "$mnt" -f "$@" </dev/null >"$log" 2>&1 &
	pid=$!
	_it_pid[$mnt]=$pid
	_it_log[$mnt]=$log
	_it_mounts+=("$mnt")
	while ! is_mounted "$mnt"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			local rc=0
			wait "$pid" || rc=$?
			unset "_it_pid[$mnt]"
			printf 'mount_boafs: daemon exited with %d before %s was mounted; log:\n' \
				"$rc" "$mnt" >&2
			sed 's/^/  | /' "$log" >&2
			return 1
		fi
		if [ "$waited" -ge $((MOUNT_TIMEOUT * 10)) ]; then
			printf 'mount_boafs: %s not mounted after %ss; log:\n' "$mnt" "$MOUNT_TIMEOUT" >&2
			sed 's/^/  | /' "$log" >&2
			return 1
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
}

# mount_boafs_daemon ARCHIVE MNT [boafs args...]: the daemonizing form (no -f). boafs must exit 0
# once the mount is up; MNT must then be mounted.
mount_boafs_daemon() {
	local archive=$1 mnt=$2 log rc=0
	shift 2
	mnt=$(realpath -m -- "$mnt")
	_it_new_log
	log=$_it_log_file
	_it_mounts+=("$mnt")
	_it_log[$mnt]=$log
	timeout -k 5 "$MOUNT_TIMEOUT" "$BOAFS_BIN" "$archive" "$mnt" "$@" </dev/null >"$log" 2>&1 ||
		rc=$?
	if [ "$rc" -ne 0 ] || ! is_mounted "$mnt"; then
		printf 'mount_boafs_daemon: boafs exited %d, mounted: %s; log:\n' "$rc" \
			"$(is_mounted "$mnt" && echo yes || echo no)" >&2
		sed 's/^/  | /' "$log" >&2
		return 1
	fi
	# The detached daemon is not our child: find it by its command line, so that unmounting
	# can wait for it to finish and check its log.
	local p want
	want=$(printf '%s\n' "$BOAFS_BIN" "$archive" "$mnt" "$@")
	for p in /proc/[0-9]*; do
		[ "$(tr '\0' '\n' <"$p/cmdline" 2>/dev/null)" = "$want" ] || continue
		_it_dpid[$mnt]=${p#/proc/}
	done
}

# track_mount MNT: a mount made some other way (mount(8)) that the exit trap must undo.
track_mount() {
	_it_mounts+=("$(realpath -m -- "$1")")
}

# _it_gone PID: waits up to EXIT_TIMEOUT seconds for PID to end; non-zero if it still runs.
_it_gone() {
	local i
	for ((i = 0; i < EXIT_TIMEOUT * 10; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	! kill -0 "$1" 2>/dev/null
}

# _it_sanitized LOG: zero if a sanitizer reported an error in the daemon log LOG.
_it_sanitized() {
	grep -Eq 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:' "$1"
}

# _it_reap MNT: waits (bounded) for MNT's foreground daemon and checks how it ended.
_it_reap() {
	local mnt=$1 pid rc=0
	pid=${_it_dpid[$mnt]:-}
	if [ -n "$pid" ]; then
		unset "_it_dpid[$mnt]"
		if ! _it_gone "$pid"; then
			printf 'detached daemon %d for %s still running %ss after unmount\n' "$pid" \
				"$mnt" "$EXIT_TIMEOUT" >&2
			_it_daemon_failed=1
			return 1
		fi
		if _it_sanitized "${_it_log[$mnt]:-/dev/null}"; then
			printf 'detached daemon for %s reported errors; log:\n' "$mnt" >&2
			sed 's/^/  | /' "${_it_log[$mnt]}" >&2
			_it_daemon_failed=1
			return 1
		fi
		return 0
	fi
	pid=${_it_pid[$mnt]:-}
	[ -n "$pid" ] || return 0
	unset "_it_pid[$mnt]"
	if ! _it_gone "$pid"; then
		printf 'daemon %d for %s still running %ss after unmount; killing it\n' "$pid" "$mnt" \
			"$EXIT_TIMEOUT" >&2
		kill -TERM "$pid" 2>/dev/null || true
		sleep 2
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		_it_daemon_failed=1
		return 1
	fi
	wait "$pid" || rc=$?
	local log=${_it_log[$mnt]:-/dev/null}
	if [ "$rc" -ne 0 ] || _it_sanitized "$log"; then
		printf 'daemon for %s exited with status %d; log:\n' "$mnt" "$rc" >&2
		sed 's/^/  | /' "$log" >&2
		_it_daemon_failed=1
		return 1
	fi
	return 0
}

# unmount_boafs MNT: fusermount3 -u, retried while busy (for up to 30 s: a process that just
# closed its last file into MNT may still be exiting on a busy machine); `-z` (lazy) as the last
# resort, which counts as a failure. Then reaps the daemon: non-zero if it crashed or exited
# non-zero.
unmount_boafs() {
	local mnt i rc=0
	mnt=$(realpath -m -- "$1")
	for ((i = 0; i < 60; i++)); do
		is_mounted "$mnt" || break
		fusermount3 -u -- "$mnt" 2>/dev/null && break
		sleep 0.5
	done
	if is_mounted "$mnt"; then
		printf 'unmount_boafs: %s busy; lazy unmount\n' "$mnt" >&2
		fusermount3 -u -z -- "$mnt" || umount -l -- "$mnt" || true
		rc=1
	fi
	_it_reap "$mnt" || rc=1
	local -a keep=()
	for i in "${_it_mounts[@]}"; do
		[ "$i" = "$mnt" ] || keep+=("$i")
	done
	_it_mounts=(${keep[@]+"${keep[@]}"})
	return "$rc"
}

# crash_boafs MNT: kills MNT's foreground daemon with SIGKILL, as a crash would, and reaps it
# (its death is expected). The dead mount stays until unmount_boafs MNT: close any descriptors
# into it first, or the unmount is busy.
crash_boafs() {
	local mnt pid
	mnt=$(realpath -m -- "$1")
	pid=${_it_pid[$mnt]:-}
	[ -n "$pid" ] || fail "crash_boafs: no foreground daemon serves $mnt"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	unset "_it_pid[$mnt]"
}

# remount_boafs ARCHIVE MNT [args]: unmount (must be clean), then mount again: what follows reads
# what the daemon stored, not the kernel's page cache or the daemon's memory.
remount_boafs() {
	local archive=$1 mnt=$2
	shift 2
	unmount_boafs "$mnt" || fail "unmount of $mnt failed"
	mount_boafs "$archive" "$mnt" "$@" || fail "remount of $archive failed"
}

_it_cleanup() {
	local rc=$? m d
	set +e
	trap - EXIT INT TERM
	cd / || true
	for ((i = ${#_it_mounts[@]} - 1; i >= 0; i--)); do
		unmount_boafs "${_it_mounts[i]}"
	done
	for d in ${_it_tmpdirs[@]+"${_it_tmpdirs[@]}"}; do
		while IFS= read -r m; do
			[ -n "$m" ] || continue
			printf 'cleanup: unmounting stray mount %s\n' "$m" >&2
			fusermount3 -u -- "$m" 2>/dev/null || fusermount3 -u -z -- "$m" 2>/dev/null ||
				umount -l -- "$m"
			_it_daemon_failed=1
		done < <(mounts_under "$d")
	done
	for d in ${_it_tmpdirs[@]+"${_it_tmpdirs[@]}"}; do
		if [ -n "$(mounts_under "$d")" ]; then
			printf 'cleanup: %s still has a mount; not removing it\n' "$d" >&2
		else
			rm -rf --one-file-system -- "$d"
		fi
	done
	if [ "$_it_daemon_failed" -ne 0 ] && { [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; }; then
		rc=1
	fi
	exit "$rc"
}
trap _it_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
IT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/boafs-it-$TEST_NAME.XXXXXX")
IT_TMP=$(cd "$IT_TMP" && pwd -P)
_it_tmpdirs+=("$IT_TMP")

# ---- assertions -------------------------------------------------------------------------------

assert_eq() { # EXPECTED ACTUAL WHAT
	[ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
}
assert_files_equal() { # A B
	cmp -- "$1" "$2" || fail "$2 differs from $1"
}
# expect_errno ERRNO_NAME PYTHON_STATEMENT...: runs the statement in python3, which must raise
# OSError with that errno.
expect_errno() {
	local want=$1
	shift
	python3 - "$want" "$*" <<'EOF' || fail "expected $1 from: $2"
import errno, os, sys
want, stmt = sys.argv[1], sys.argv[2]
try:
    exec(stmt)
except OSError as e:
    if e.errno != getattr(errno, want):
        sys.exit("got %s instead of %s from: %s" % (errno.errorcode.get(e.errno), want, stmt))
    sys.exit(0)
sys.exit("no error (wanted %s) from: %s" % (want, stmt))
EOF
}

# Stored bytes as the mount reports them (st_blocks * 512) and the logical size.
stored_bytes() { echo $(($(stat -c %b -- "$1") * 512)); }
file_size() { stat -c %s -- "$1"; }

# wait_for TIMEOUT_S CMD...: re-runs CMD until it succeeds (attribute caches expire) or time out.
# CMD's arguments are expanded once; to re-read a value each time, use eval '[ "$(...)" ... ]'.
wait_for() {
	local _wf_tenths=$(($1 * 10)) _wf_n
	shift
	for ((_wf_n = 0; _wf_n < _wf_tenths; _wf_n++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# pool_pending ARCHIVE: the blocks that the recompression pool has yet to try, as
# `boa stats --json` counts them (read from the index: works while ARCHIVE is mounted; --sample 0:
# no watching the pool for its rate).
pool_pending() {
	"$BOAFS_BUILD/boa" stats --json --sample 0 "$1" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["pending_blocks"])'
}

# unnice_pool MNT: gives the recompression workers of MNT's daemon normal priority again.
# The pool runs at nice 19 so that foreground requests come first. On a machine with both cores
# busy that leaves it about 1% of a core (a weight of 15 against 1024 for each busy normal
# thread), while an ASan -O0 build spends ~8 s of CPU on one 128 KiB block at BOA level 1
# (encode and verify): a test waiting for the pool would wait for hours. Tests that wait for it
# therefore lift its priority; what they check does not depend on scheduling. Needs root (or
# RLIMIT_NICE); without it, the wait is as slow as the machine is busy.
unnice_pool() {
	local pid
	pid=${_it_pid[$(realpath -m -- "$1")]:-}
	[ -n "$pid" ] && unnice_threads "$pid"
	return 0
}
# unnice_threads PID: the same for any daemon's pid.
# The threads get the nice level of the daemon's main thread, which is the caller's: a test run
# under `nice` stays nice.
unnice_threads() {
	local pid=$1 tid base
	base=$(ps -o ni= -p "$pid" 2>/dev/null) || return 0
	base=$((base))
	for tid in $(ps -L -o tid=,ni= -p "$pid" 2>/dev/null | awk -v b="$base" '$2 > b { print $1 }'); do
		renice -n "$base" -p "$tid" >/dev/null 2>&1 || true
	done
}

# wait_pool_idle ARCHIVE MNT: waits until the pool of MNT's daemon has tried every block of
# ARCHIVE (pending_blocks 0). A condition, not a time: the wait fails only when the count has not
# gone down for BOAFS_POOL_STALL seconds (default 600) — sized for an ASan -O0 build with both
# cores busy (load ~20), where one worker gets a tenth of a core and a 128 KiB block at a BOA
# level with the Mamba model takes tens of seconds of CPU: a stall that long means the pool is
# stuck, not slow. The test's
# own meson timeout bounds the whole wait.
wait_pool_idle() {
	local archive=$1 mnt=$2 stall=${BOAFS_POOL_STALL:-600} n best last_change=$SECONDS
	best=$(pool_pending "$archive") || fail "boa stats --json $archive"
	while [ "$best" -gt 0 ]; do
		unnice_pool "$mnt" # workers set their nice level when they start: look again each time
		sleep 1
		n=$(pool_pending "$archive") || fail "boa stats --json $archive"
		if [ "$n" -lt "$best" ]; then
			best=$n
			last_change=$SECONDS
		elif [ $((SECONDS - last_change)) -ge "$stall" ]; then
			fail "recompression pool stuck: $n blocks pending, none done in ${stall}s"
		fi
	done
}

# make_data FILE BYTES: realistic compressible content: the HEP sample files repeated, with a
# little random data mixed in so that no two blocks are identical.
make_data() {
	local out=$1 bytes=$2
	python3 - "$out" "$bytes" "$HEP_DATA" <<'EOF'
import os, random, sys
out, want, hep = sys.argv[1], int(sys.argv[2]), sys.argv[3]
srcs = [open(os.path.join(hep, n), "rb").read() for n in sorted(os.listdir(hep))]
rng = random.Random(want)
with open(out, "wb") as f:
    left = want
    while left > 0:
        s = rng.choice(srcs)
        a = rng.randrange(len(s))
        piece = s[a:a + rng.randrange(1, 65536)] + rng.randbytes(rng.randrange(0, 64))
        piece = piece[:left]
        f.write(piece)
        left -= len(piece)
EOF
}

# manifest DIR: one line per entry with everything a copy or a remount must keep: type, mode,
# owner, size, link count, mtime (ns), symlink target, rdev, content hash, xattrs.
manifest() {
	python3 - "$1" <<'EOF'
import hashlib, os, stat, sys
root = sys.argv[1]
out = []
for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    for name in [""] + sorted(dirnames + filenames):
        p = os.path.join(dirpath, name) if name else dirpath
        if not name and dirpath != root:
            continue
        st = os.lstat(p)
        rel = os.path.relpath(p, root)
        line = [rel, "%o" % st.st_mode, str(st.st_uid), str(st.st_gid)]
        if not stat.S_ISDIR(st.st_mode):
            line += [str(st.st_size), str(st.st_nlink)]
        line.append(str(st.st_mtime_ns))
        if stat.S_ISLNK(st.st_mode):
            line.append("-> " + os.readlink(p))
        elif stat.S_ISREG(st.st_mode):
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            line.append(h.hexdigest())
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            line.append("rdev %d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
        if not stat.S_ISLNK(st.st_mode):
            for x in sorted(os.listxattr(p, follow_symlinks=False)):
                if x.startswith("user."):
                    line.append("%s=%s" % (x, os.getxattr(p, x, follow_symlinks=False).hex()))
        out.append(" ".join(line))
print("\n".join(out))
EOF
}
