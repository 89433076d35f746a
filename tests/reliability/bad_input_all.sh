#!/usr/bin/env bash
# Bad input to every program is an error message, never a crash, a hang or a success.
#
# Each case runs a program with a limit of MOUNT_TIMEOUT (lib.sh: 120 s, for an ASan build on a
# busy machine) and must exit non-zero, below 128 (no signal), with exactly one non-empty line
# on stderr (or a usage text), no sanitizer report, and, for boafs, no mount left behind and no
# new archive made where there was none (boafs runs in the foreground, -f, so that a crash is
# not hidden behind the exit status 1 of the parent). Cases:
#   boafs: damaged archives (empty index/, empty data.mdb, data.mdb of one or its two meta
#     pages, seg/ a file, the lock a directory), index entries boafs never writes
#     (format_version 99, block_size 0 or 2^48, no block_size), bad -o values of the options tests/integration/bad_input.sh does not
#     cover (recompress, threads, boa_level, model, fuse_threads), extra arguments.
#   boafs, where mounting may also be right: seg/ missing, junk files in seg/, a root inode that
#     is a regular file or 10 bytes long, a directory entry naming a missing inode or making a
#     cycle, an orphan that does not exist, extents of random bytes or 2 bytes, a file of
#     2^63-1 bytes, block_size 3000, data.mdb 100 bytes short
#     — the mount is refused (as above) or works, and then every read either succeeds or fails
#     with an error: the daemon stays up and unmounts with exit status < 128.
#   boa, for each subcommand that exists in this build: missing, empty, garbage and truncated
#     inputs, a .boa file with one byte flipped (decompress must fail: it must not write wrong
#     data and exit 0), bad models, bad numbers, unknown flags; stats/fsck/gc/models on a
#     missing archive, a file, an empty directory and a garbage index.
. "$(dirname "$0")/rlib.sh"
require_boafs
require_cmd python3

P=$(rel_helper mdb_poke)
BOA=
for b in "$BOAFS_BUILD/boa" "$BOAFS_BUILD/codec/boa"; do
	[ -x "$b" ] && BOA=$b && break
done

t=$(it_tmpdir)
m=$t/mnt
mkdir "$m"
cases=0
failures=()

# refused WHAT CMD...: CMD must fail cleanly (see the header). stdin is /dev/null.
refused() {
	local what=$1 rc=0 lines
	shift
	cases=$((cases + 1))
	timeout -k 5 "$MOUNT_TIMEOUT" "$@" </dev/null >"$t/out" 2>"$t/err" || rc=$?
	lines=$(grep -c . "$t/err" || true)
	if [ "$rc" -eq 0 ]; then
		failures+=("$what: accepted (exit status 0); stderr: $(head -c 300 "$t/err")")
	elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		failures+=("$what: hung (killed after $MOUNT_TIMEOUT s)")
	elif [ "$rc" -ge 128 ]; then
		failures+=("$what: died of signal $((rc - 128)); stderr: $(head -c 300 "$t/err")")
	elif grep -Eq 'Sanitizer|runtime error:' "$t/err"; then
		failures+=("$what: sanitizer report: $(head -c 600 "$t/err")")
	elif [ "$lines" -eq 0 ]; then
		failures+=("$what: exit $rc without a message")
	elif [ "$lines" -gt 1 ] && ! grep -qi '^usage:' "$t/err"; then
		failures+=("$what: $lines lines on stderr, expected one: $(head -c 600 "$t/err")")
	else
		note "$what: exit $rc: $(head -n 1 "$t/err")"
	fi
	if [ -n "$(mounts_under "$t")" ]; then
		failures+=("$what: left a mount")
		fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	fi
	return 0
}

# boafs_refused WHAT ARCHIVE [ARGS...]: boafs ARCHIVE MNT -f ARGS must fail cleanly (as refused;
# the foreground form, so that a crash shows as a signal rather than as the exit status 1 of a
# parent left waiting), create no archive where there was none, and mount nothing.
boafs_refused() {
	local what=$1 c=$2 pid rc=0 waited=0 existed=0 lines
	shift 2
	cases=$((cases + 1))
	[ -e "$c" ] && existed=1
	"$BOAFS_BIN" "$c" "$m" -f "$@" </dev/null >"$t/err" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null && ! is_mounted "$m" && [ "$waited" -lt $((MOUNT_TIMEOUT * 10)) ]; do
		sleep 0.1
		waited=$((waited + 1))
	done
	if is_mounted "$m" || kill -0 "$pid" 2>/dev/null; then
		is_mounted "$m" && failures+=("$what: accepted (mounted)") ||
			failures+=("$what: hung for $MOUNT_TIMEOUT s")
		fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null || true
		sleep 1
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		return 0
	fi
	wait "$pid" || rc=$?
	lines=$(grep -c . "$t/err" || true)
	if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ]; then
		failures+=("$what: exit status $rc (signal $((rc > 128 ? rc - 128 : 0))); stderr: $(head -c 300 "$t/err")")
	elif grep -Eq 'Sanitizer|runtime error:' "$t/err"; then
		failures+=("$what: sanitizer report: $(head -c 600 "$t/err")")
	elif [ "$lines" -eq 0 ]; then
		failures+=("$what: exit $rc without a message")
	elif [ "$lines" -gt 1 ]; then
		failures+=("$what: $lines lines on stderr, expected one: $(head -c 600 "$t/err")")
	else
		note "$what: exit $rc: $(cat "$t/err")"
	fi
	if [ "$existed" -eq 0 ] && [ -e "$c" ]; then
		failures+=("$what: the refused mount created $(find "$c" | wc -l) entries at $c")
		rm -rf "$c"
	fi
	return 0
}

# A good archive to break copies of: a directory, a few files, 16 KiB blocks.
mount_boafs "$t/good" "$m" -o block_size=16K || fail "mount"
mkdir "$m/dir"
cp "$HEP_DATA"/*.lhe "$m/dir/"
printf 'hello\n' >"$m/hello"
hello_ino=$(stat -c %i "$m/hello")
unmount_boafs "$m" || fail "unmount"
fresh() { # NAME: a new copy of the good archive, path printed
	rm -rf "${t:?}/$1"
	cp -a "$t/good" "$t/$1"
	printf '%s\n' "$t/$1"
}
mdb_size=$(stat -c %s "$t/good/index/data.mdb")

# ---- boafs: archives it must refuse ----

c=$t/empty-index
mkdir -p "$c/index" "$c/seg"
: >"$c/junk" # not empty, so not a new archive
boafs_refused "boafs: empty index/ directory" "$c"

c=$(fresh zero-mdb)
: >"$c/index/data.mdb"
boafs_refused "boafs: data.mdb of 0 bytes" "$c"

c=$(fresh one-page)
truncate -s 4096 "$c/index/data.mdb"
boafs_refused "boafs: data.mdb cut to its first meta page" "$c"

c=$(fresh meta-pages)
truncate -s 8192 "$c/index/data.mdb"
boafs_refused "boafs: data.mdb cut to its two meta pages ($mdb_size bytes before)" "$c"


c=$(fresh seg-file)
rm -rf "$c/seg"
printf 'not a directory' >"$c/seg"
boafs_refused "boafs: ARCHIVE/seg is a file" "$c"

c=$(fresh lock-dir)
rm -f "$c/lock"
mkdir "$c/lock"
boafs_refused "boafs: ARCHIVE/lock is a directory" "$c"

be64() { printf '%016x' "$1"; }
hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
c=$(fresh version2)
"$P" put "$c/index" meta "$(hex format_version)" 6300000000000000 # 99: 1 and 2 are valid
boafs_refused "boafs: format_version 99" "$c"
c=$(fresh bs0)
"$P" put "$c/index" meta "$(hex block_size)" 0000000000000000
boafs_refused "boafs: block_size 0 in meta" "$c"
c=$(fresh bs-huge)
"$P" put "$c/index" meta "$(hex block_size)" 00000000ffff0000
boafs_refused "boafs: block_size 2^48 in meta" "$c"
c=$(fresh no-bs)
"$P" del "$c/index" meta "$(hex block_size)"
boafs_refused "boafs: no block_size in meta" "$c"

# ---- boafs: options ----

boafs_refused "boafs: -o recompress=sometimes" "$t/new1" -o recompress=sometimes
boafs_refused "boafs: -o recompress=cold:" "$t/new2" -o recompress=cold:
boafs_refused "boafs: -o recompress=cold:-5" "$t/new3" -o recompress=cold:-5
boafs_refused "boafs: -o recompress=cold:1x" "$t/new4" -o recompress=cold:1x
boafs_refused "boafs: -o threads=-1" "$t/new5" -o threads=-1
boafs_refused "boafs: -o threads=99999999999" "$t/new6" -o threads=99999999999
boafs_refused "boafs: -o boa_level=0" "$t/new7" -o boa_level=0
boafs_refused "boafs: -o boa_level=10" "$t/new8" -o boa_level=10
boafs_refused "boafs: -o fuse_threads=0" "$t/new9" -o fuse_threads=0
boafs_refused "boafs: -o zstd_level=99" "$t/new10" -o zstd_level=99
boafs_refused "boafs: -o cache_size=-1" "$t/new11" -o cache_size=-1
boafs_refused "boafs: -o cache_size=99999999999G" "$t/new12" -o cache_size=99999999999G
boafs_refused "boafs: -o block_size=" "$t/new13" -o block_size=
boafs_refused "boafs: -o model=/nonexistent.boam" "$t/new14" -o model=/nonexistent.boam
head -c 5000 /dev/urandom >"$t/garbage.boam"
boafs_refused "boafs: -o model=<random bytes>" "$t/new15" -o model="$t/garbage.boam"
boafs_refused "boafs: -o model=<a directory>" "$t/new16" -o model="$t"
boafs_refused "boafs: three positional arguments" "$t/new17" "$t/third"
boafs_refused "boafs: -o with nothing after it" "$t/new18" -o

# ---- boafs: archives it may mount or refuse, but must not crash on ----

# tolerated WHAT ARCHIVE: refused cleanly, or mounted with every read succeeding or failing
# with an error while the daemon stays up, and an exit status < 128 after the unmount.
tolerated() {
	local what=$1 c=$2 pid rc=0 waited=0 log=$t/tolerated.log out
	cases=$((cases + 1))
	"$BOAFS_BIN" "$c" "$m" -f </dev/null >"$log" 2>&1 &
	pid=$!
	while ! is_mounted "$m" && kill -0 "$pid" 2>/dev/null && [ "$waited" -lt $((MOUNT_TIMEOUT * 10)) ]; do
		sleep 0.1
		waited=$((waited + 1))
	done
	if ! is_mounted "$m"; then
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
		wait "$pid" || rc=$?
		if [ "$rc" -eq 0 ] || [ "$rc" -ge 124 ] || grep -Eq 'Sanitizer|runtime error:' "$log"; then
			failures+=("$what: exit status $rc without a mount; log: $(head -c 600 "$log")")
		elif [ "$(grep -c . "$log")" -ne 1 ]; then
			failures+=("$what: refused with $(grep -c . "$log") lines: $(head -c 600 "$log")")
		else
			note "$what: refused, exit $rc: $(cat "$log")"
		fi
		return 0
	fi
	out=$(timeout -k 5 60 python3 - "$m" <<'PY'
import os, sys
ok = err = 0
for dirpath, dirs, files in os.walk(sys.argv[1], onerror=lambda e: None):
    for n in dirs + files:
        p = os.path.join(dirpath, n)
        try:
            os.lstat(p)
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    f.read(16 << 20)  # a damaged size may claim exabytes of holes
            ok += 1
        except OSError:
            err += 1
print("%d entries read, %d errors" % (ok, err))
PY
	) || rc=$?
	if ! kill -0 "$pid" 2>/dev/null; then
		rc=0
		wait "$pid" || rc=$?
		failures+=("$what: the daemon died (exit status $rc) during reads; log: $(head -c 600 "$log")")
		fusermount3 -u -z "$m" 2>/dev/null || true
		return 0
	fi
	[ "$rc" -eq 0 ] || failures+=("$what: walking the mount hung or failed ($rc)")
	fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null || true
	for ((waited = 0; waited < EXIT_TIMEOUT * 10; waited++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	rc=0
	wait "$pid" || rc=$?
	if [ "$rc" -ge 128 ] || grep -Eq 'Sanitizer|runtime error:' "$log"; then
		failures+=("$what: daemon exit status $rc after unmount; log: $(head -c 600 "$log")")
	else
		note "$what: mounted; $out; daemon exit $rc"
	fi
}

c=$(fresh no-seg)
rm -rf "$c/seg"
tolerated "boafs: ARCHIVE/seg missing" "$c"
c=$(fresh seg-junk)
printf 'notes' >"$c/seg/README"
printf 'garbage' >"$c/seg/zzzzzzzzzzzzzzzz.seg"
mkdir "$c/seg/0000000000000009.seg"
head -c 1000 /dev/urandom >"$c/seg/00000000000000ff.seg"
tolerated "boafs: junk in ARCHIVE/seg (a README, a bad name, a directory, random bytes)" "$c"
c=$(fresh root-is-file)
v=$("$P" get "$c/index" inodes "$(be64 1)")
"$P" put "$c/index" inodes "$(be64 1)" "a4810000${v:8}" # mode S_IFREG | 0644
tolerated "boafs: root inode is a regular file" "$c"
c=$(fresh dangling)
"$P" put "$c/index" dirents "$(be64 1)$(hex ghost)" 4d0000000000000008 # ino 77, DT_REG
tolerated "boafs: directory entry naming a missing inode" "$c"
c=$(fresh dir-loop)
dir_ino=$("$P" get "$c/index" dirents "$(be64 1)$(hex dir)" | python3 -c 'import sys; print(int.from_bytes(bytes.fromhex(sys.stdin.read().strip()[:16]), "little"))')
"$P" put "$c/index" dirents "$(be64 "$dir_ino")$(hex loop)" 010000000000000004 # ino 1, DT_DIR
tolerated "boafs: a directory entry that points back at the root (a cycle)" "$c"
c=$(fresh orphan)
"$P" put "$c/index" orphans "$(be64 999)" -
tolerated "boafs: an orphan inode that does not exist" "$c"
c=$(fresh bad-extent)
"$P" put "$c/index" blocks "$(be64 "$hello_ino")$(be64 0)" "$(head -c 52 /dev/urandom | od -An -v -tx1 | tr -d ' \n')"
tolerated "boafs: an extent of random bytes" "$c"
c=$(fresh short-extent)
"$P" put "$c/index" blocks "$(be64 "$hello_ino")$(be64 0)" 0011
tolerated "boafs: an extent of 2 bytes" "$c"
c=$(fresh odd-size)
truncate -s $((mdb_size - 100)) "$c/index/data.mdb"
tolerated "boafs: data.mdb 100 bytes short" "$c"
c=$(fresh bs3000)
"$P" put "$c/index" meta "$(hex block_size)" b80b000000000000
tolerated "boafs: block_size 3000 in meta" "$c"
c=$(fresh short-root)
"$P" put "$c/index" inodes "$(be64 1)" 00112233445566778899
tolerated "boafs: root inode value of 10 bytes" "$c"
c=$(fresh huge-size)
v=$("$P" get "$c/index" inodes "$(be64 "$hello_ino")")
"$P" put "$c/index" inodes "$(be64 "$hello_ino")" "${v:0:32}ffffffffffffff7f${v:48}"
tolerated "boafs: a file of size 2^63-1" "$c"

# ---- boa ----

if [ -z "$BOA" ]; then
	note "no boa in $BOAFS_BUILD: its cases are skipped"
else
	has() { "$BOA" "$1" --help >/dev/null 2>&1; }
	printf 'some text to compress, some text to compress\n%.0s' $(seq 200) >"$t/plain"
	head -c 3000 /dev/urandom >"$t/random"
	: >"$t/empty"
	if has compress; then
		refused "boa compress: missing input" "$BOA" compress "$t/nonexistent" "$t/x.boa"
		refused "boa compress: input is a directory" "$BOA" compress "$t" "$t/x.boa"
		refused "boa compress: output in a missing directory" "$BOA" compress "$t/plain" "$t/no/such/x.boa"
		refused "boa compress: unknown flag" "$BOA" compress --frobnicate "$t/plain" "$t/x.boa"
		refused "boa compress: level -0" "$BOA" compress -0 "$t/plain" "$t/x.boa"
		refused "boa compress: -T abc" "$BOA" compress -T abc "$t/plain" "$t/x.boa"
		refused "boa compress: -T -1" "$BOA" compress -T -1 "$t/plain" "$t/x.boa" # -T 0: all CPUs
		refused "boa compress: -T 65" "$BOA" compress -T 65 "$t/plain" "$t/x.boa"
		refused "boa compress: -B 0" "$BOA" compress -B 0 "$t/plain" "$t/x.boa"
		refused "boa compress: -B lots" "$BOA" compress -B lots "$t/plain" "$t/x.boa"
		refused "boa compress: -m missing model" "$BOA" compress -5 -m "$t/nonexistent.boam" "$t/plain" "$t/x.boa"
		refused "boa compress: -m random bytes" "$BOA" compress -5 -m "$t/garbage.boam" "$t/plain" "$t/x.boa"
		# No operand reads standard input, as zstd does (here /dev/null: not a boa stream).
		refused "boa decompress: no operand, empty stdin" "$BOA" decompress
		refused "boa decompress: a name without .boa" "$BOA" decompress "$t/plain"
		refused "boa compress: -o with two inputs" "$BOA" compress -o "$t/x.boa" "$t/plain" "$t/random" "$t/empty"
		printf 'old' >"$t/exists.boa"
		refused "boa compress: a .boa name" "$BOA" compress "$t/exists.boa"
		refused "boa compress: output exists (no -f)" "$BOA" compress "$t/plain" "$t/exists.boa"
		assert_eq old "$(cat "$t/exists.boa")" "an existing output file without -f"
	fi
	if has decompress && has compress; then
		"$BOA" compress "$t/plain" "$t/good.boa" || fail "boa compress of a plain file"
		size=$(stat -c %s "$t/good.boa")
		refused "boa decompress: missing input" "$BOA" decompress "$t/nonexistent.boa" "$t/x"
		refused "boa decompress: empty input" "$BOA" decompress "$t/empty" "$t/x1"
		refused "boa decompress: random bytes" "$BOA" decompress "$t/random" "$t/x2"
		refused "boa decompress: a plain text file" "$BOA" decompress "$t/plain" "$t/x3"
		head -c $((size / 2)) "$t/good.boa" >"$t/half.boa"
		refused "boa decompress: truncated to half" "$BOA" decompress "$t/half.boa" "$t/x4"
		head -c $((size - 1)) "$t/good.boa" >"$t/short.boa"
		refused "boa decompress: one byte short" "$BOA" decompress "$t/short.boa" "$t/x5"
		# A flipped byte: decompress fails cleanly, or (a byte nothing depends on) writes the
		# original; exit 0 with other bytes is the one wrong answer.
		for at in 0 8 $((size / 2)) $((size - 1)); do
			cp "$t/good.boa" "$t/flip.boa"
			python3 - "$t/flip.boa" "$at" <<'PY'
import sys
p, at = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read())
b[at] ^= 0x20
open(p, "wb").write(b)
PY
			rm -f "$t/x6"
			if "$BOA" decompress "$t/flip.boa" "$t/x6" 2>/dev/null; then
				cases=$((cases + 1))
				if cmp -s "$t/x6" "$t/plain"; then
					note "boa decompress: byte $at of $size flipped: harmless, the original came out"
				else
					failures+=("boa decompress: byte $at of $size flipped: exit 0 with wrong data")
				fi
			else
				refused "boa decompress: byte $at of $size flipped" "$BOA" decompress "$t/flip.boa" "$t/x6"
			fi
		done
		refused "boa decompress: -m random bytes" "$BOA" decompress -m "$t/garbage.boam" "$t/good.boa" "$t/x7"
		refused "boa decompress: unknown flag" "$BOA" decompress --frobnicate "$t/good.boa" "$t/x8"
	fi
	if has bench; then
		refused "boa bench: missing file" "$BOA" bench --no-peers "$t/nonexistent"
		refused "boa bench: -l bogus" "$BOA" bench --no-peers -l bogus "$t/plain"
		refused "boa bench: -l 42" "$BOA" bench --no-peers -l 42 "$t/plain"
		refused "boa bench: -m random bytes" "$BOA" bench --no-peers -l 5 -m "$t/garbage.boam" "$t/plain"
		refused "boa bench: no files" "$BOA" bench --no-peers
	fi
	if has train; then
		refused "boa train: missing file" "$BOA" train "$t/nonexistent" -o "$t/m.boam"
		refused "boa train: no -o" "$BOA" train "$t/plain"
		refused "boa train: -o in a missing directory" "$BOA" train --epochs 1 "$t/plain" -o "$t/no/such/m.boam"
		refused "boa train: --dim 7" "$BOA" train --dim 7 "$t/plain" -o "$t/m.boam"
		refused "boa train: --dim abc" "$BOA" train --dim abc "$t/plain" -o "$t/m.boam"
		refused "boa train: --lr -1" "$BOA" train --lr -1 "$t/plain" -o "$t/m.boam"
		refused "boa train: --val-split 2" "$BOA" train --val-split 2 "$t/plain" -o "$t/m.boam"
		refused "boa train: empty file" "$BOA" train --epochs 1 "$t/empty" -o "$t/m.boam"
	fi
	mkdir -p "$t/emptydir"
	c=$(fresh garbage-index)
	head -c 65536 /dev/urandom >"$c/index/data.mdb"
	c2=$(fresh boa-meta-pages)
	truncate -s 8192 "$c2/index/data.mdb"
	for sub in stats fsck gc models; do
		has "$sub" || continue
		refused "boa $sub: missing archive" "$BOA" "$sub" "$t/nonexistent"
		refused "boa $sub: a regular file" "$BOA" "$sub" "$t/plain"
		refused "boa $sub: an empty directory" "$BOA" "$sub" "$t/emptydir"
		refused "boa $sub: random bytes in data.mdb" "$BOA" "$sub" "$c"
		refused "boa $sub: data.mdb of only its meta pages" "$BOA" "$sub" "$c2"
		refused "boa $sub: no argument" "$BOA" "$sub"
		refused "boa $sub: unknown flag" "$BOA" "$sub" --frobnicate "$t/good"
	done
	has fsck && refused "boa fsck --repair: random bytes in data.mdb" "$BOA" fsck --repair "$c"
	has gc && refused "boa gc: --threshold 2" "$BOA" gc --threshold 2 "$t/good"
	has gc && refused "boa gc: --threshold abc" "$BOA" gc --threshold abc "$t/good"
	has stats && refused "boa stats: --months -3" "$BOA" stats --months -3 "$t/good"
	refused "boa: unknown subcommand" "$BOA" frobnicate
	refused "boa: no arguments" "$BOA"
fi

note "$cases cases"
if [ "${#failures[@]}" -gt 0 ]; then
	printf 'FAIL: %s\n' "${failures[@]}" >&2
	fail "${#failures[@]} of $cases cases failed (above)"
fi
