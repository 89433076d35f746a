#!/usr/bin/env bash
# truncate down to the middle of a block, then up: the kept prefix is unchanged and everything past
# the old cut reads as zeros (including the rest of the block that was cut). Truncating down frees
# stored space (st_blocks shrinks); O_TRUNC empties a file; ftruncate on an open file.
. "$(dirname "$0")/lib.sh"
require_boafs

t=$(it_tmpdir)
mkdir "$t/mnt"
mount_boafs "$t/archive" "$t/mnt"
make_data "$t/orig" 1000000

cp "$t/orig" "$t/mnt/f"
truncate -s 200000 "$t/mnt/f"  # block 1 of 128 KiB blocks, mid-block
assert_eq 200000 "$(file_size "$t/mnt/f")" "size after truncate down"
cmp -n 200000 "$t/orig" "$t/mnt/f" || fail "prefix changed by truncate down"
truncate -s 700000 "$t/mnt/f"
assert_eq 700000 "$(file_size "$t/mnt/f")" "size after truncate up"
cmp -n 200000 "$t/orig" "$t/mnt/f" || fail "prefix changed by truncate up"
cmp -i 200000:0 -n 500000 "$t/mnt/f" /dev/zero || fail "extended part is not zeros"
{ head -c 200000 "$t/orig"; head -c 500000 /dev/zero; } >"$t/want"

# Truncate to a block boundary and to zero-then-grow.
cp "$t/orig" "$t/mnt/g"
truncate -s 262144 "$t/mnt/g"
truncate -s 300000 "$t/mnt/g"
{ head -c 262144 "$t/orig"; head -c 37856 /dev/zero; } >"$t/want-g"
cmp "$t/want-g" "$t/mnt/g" || fail "truncate at a block boundary"

# ftruncate on an open descriptor, then write past the new end (a hole in between).
cp "$t/orig" "$t/mnt/h"
python3 - "$t/mnt/h" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.ftruncate(fd, 5000)
assert os.fstat(fd).st_size == 5000, os.fstat(fd).st_size
os.pwrite(fd, b"tail", 400000)
assert os.fstat(fd).st_size == 400004
os.close(fd)
PY
{ head -c 5000 "$t/orig"; head -c 395000 /dev/zero; printf tail; } >"$t/want-h"
cmp "$t/want-h" "$t/mnt/h" || fail "ftruncate then write past the end"

# O_TRUNC
cp "$t/orig" "$t/mnt/e"
: >"$t/mnt/e"
assert_eq 0 "$(file_size "$t/mnt/e")" "size after O_TRUNC"
wait_for 5 eval '[ "$(stat -c %b "$t/mnt/e")" -eq 0 ]' || fail "st_blocks of an emptied file is not 0"

# Stored size shrinks on truncate down (incompressible data: stored ~= logical).
head -c $((2 * 1024 * 1024)) /dev/urandom >"$t/mnt/r"
wait_for 5 eval '[ "$(stored_bytes "$t/mnt/r")" -ge $((2 * 1024 * 1024)) ]' ||
	fail "2 MiB of random data: stored $(stored_bytes "$t/mnt/r")"
truncate -s 100000 "$t/mnt/r"
wait_for 5 eval '[ "$(stored_bytes "$t/mnt/r")" -le $((131072 + 4096)) ]' ||
	fail "after truncate to 100000: stored $(stored_bytes "$t/mnt/r") (expected <= one block)"

remount_boafs "$t/archive" "$t/mnt"
cmp "$t/want" "$t/mnt/f" || fail "f after remount"
cmp "$t/want-g" "$t/mnt/g" || fail "g after remount"
cmp "$t/want-h" "$t/mnt/h" || fail "h after remount"
assert_eq 0 "$(file_size "$t/mnt/e")" "e after remount"
assert_eq 100000 "$(file_size "$t/mnt/r")" "r after remount"
[ "$(stored_bytes "$t/mnt/r")" -le $((131072 + 4096)) ] ||
	fail "r after remount: stored $(stored_bytes "$t/mnt/r")"
