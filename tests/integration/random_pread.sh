#!/usr/bin/env bash
# 1000 random-offset, random-length preads (a quarter near block boundaries, some past EOF) on
# files in a mount, compared with the same reads of the source files: through the page cache,
# cold after a remount, and with O_DIRECT straight to the daemon; then 1000 random writes to
# both, read back live and after a remount. Default block size and 16 KiB blocks.
. "$(dirname "$0")/lib.sh"
require_boafs
[ -x "$PREAD_CHECK" ] || fail "pread_check not built: $PREAD_CHECK"

t=$(it_tmpdir)
mkdir "$t/mnt" "$t/ref"
make_data "$t/ref/big" $((6 * 1024 * 1024 + 12345))
cat "$HEP_DATA"/*.root >"$t/ref/root"
head -c 700000 /dev/urandom >"$t/ref/random"

run_round() {
	local archive=$1 block=$2 f
	shift 2
	mount_boafs "$archive" "$t/mnt" "$@"
	cp "$t/ref/big" "$t/ref/root" "$t/ref/random" "$t/mnt/"
	for f in big root random; do
		"$PREAD_CHECK" -b "$block" -s 1 "$t/mnt/$f" "$t/ref/$f" || fail "$f: live reads ($*)"
	done
	remount_boafs "$archive" "$t/mnt" "$@"
	for f in big root random; do
		"$PREAD_CHECK" -b "$block" -s 2 "$t/mnt/$f" "$t/ref/$f" || fail "$f: cold reads ($*)"
		"$PREAD_CHECK" -b "$block" -s 3 -d "$t/mnt/$f" "$t/ref/$f" ||
			fail "$f: O_DIRECT reads ($*)"
	done
	cp "$t/ref/big" "$t/ref/big.w"
	cp "$t/ref/big" "$t/mnt/big.w"
	"$PREAD_CHECK" -b "$block" -s 4 -w "$t/mnt/big.w" "$t/ref/big.w" ||
		fail "random writes then reads ($*)"
	remount_boafs "$archive" "$t/mnt" "$@"
	"$PREAD_CHECK" -b "$block" -s 5 -d "$t/mnt/big.w" "$t/ref/big.w" ||
		fail "random writes, after remount ($*)"
	cmp "$t/mnt/big.w" "$t/ref/big.w" || fail "big.w differs after remount ($*)"
	unmount_boafs "$t/mnt" || fail "unmount ($*)"
}

run_round "$t/archive-default" 131072
run_round "$t/archive-16k" 16384 -o block_size=16K
