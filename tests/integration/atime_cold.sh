#!/usr/bin/env bash
# Reads: atime follows the mount option (relatime by default, noatime, strictatime), written
# lazily with the other attributes (checked after a remount, so from the index); and cold means
# neither written nor read for the period, so a file read again and again is not recompressed
# while one left alone beside it is.
. "$(dirname "$0")/lib.sh"
require_boafs
[ -d "$HEP_DATA" ] || skip "no HEP samples at $HEP_DATA"

t=$(it_tmpdir)
mkdir "$t/mnt"
atime() { stat -c %X -- "$1"; }

# relatime (the default): a read updates an atime not newer than mtime or ctime; a second read
# soon after does not.
mount_boafs "$t/archive" "$t/mnt" -o recompress=off
printf 'data\n' >"$t/mnt/f"
touch -a -d '2 days ago' "$t/mnt/f"
old=$(atime "$t/mnt/f")
cat "$t/mnt/f" >/dev/null
remount_boafs "$t/archive" "$t/mnt" -o recompress=off
first=$(atime "$t/mnt/f")
[ "$first" -gt "$old" ] || fail "relatime: a read did not update an atime older than ctime"
sleep 1.1 # atime has one-second resolution in stat -c %X
cat "$t/mnt/f" >/dev/null
remount_boafs "$t/archive" "$t/mnt" -o recompress=off
assert_eq "$first" "$(atime "$t/mnt/f")" "relatime: atime after a second read"
unmount_boafs "$t/mnt"

# strictatime: every read updates it.
mount_boafs "$t/archive" "$t/mnt" -o recompress=off,strictatime
cat "$t/mnt/f" >/dev/null
remount_boafs "$t/archive" "$t/mnt" -o recompress=off,strictatime
[ "$(atime "$t/mnt/f")" -gt "$first" ] || fail "strictatime: a read did not update atime"
unmount_boafs "$t/mnt"

# noatime: never, even where relatime would.
mount_boafs "$t/archive" "$t/mnt" -o recompress=off,noatime
touch -a -d '2 days ago' "$t/mnt/f"
old=$(atime "$t/mnt/f")
cat "$t/mnt/f" >/dev/null
remount_boafs "$t/archive" "$t/mnt" -o recompress=off,noatime
assert_eq "$old" "$(atime "$t/mnt/f")" "noatime: atime after a read"
unmount_boafs "$t/mnt"

# Reads keep a file hot. Two files written together; a reader opens and reads `read` every
# 0.2 s, far inside the 20 s cold period even on a loaded machine; `idle` is left alone. With one
# worker, `read` (the lower inode) is scanned first, so had its reads not counted it would be
# recompressed no later than `idle`.
mount_boafs "$t/archive" "$t/mnt" -o recompress=cold:20,boa_level=1,threads=1
make_data "$t/mnt/read" 262144
make_data "$t/mnt/idle" 262144
sync -f "$t/mnt"
read0=$(stored_bytes "$t/mnt/read")
idle0=$(stored_bytes "$t/mnt/idle")
(
	while [ ! -e "$t/stop" ]; do
		cat "$t/mnt/read" >/dev/null
		sleep 0.2
	done
) &
reader=$!
unnice_pool "$t/mnt" # at nice 19 on a busy machine the pool gets ~1% of a core (lib.sh)
# Bounds sized for a sanitizer build with every core busy: BOA level 1 on 256 KiB takes seconds.
wait_for 900 eval '[ "$(stored_bytes "$t/mnt/idle")" -lt "$idle0" ]' ||
	fail "idle file not recompressed: $(stored_bytes "$t/mnt/idle") bytes stored, was $idle0"
still=$(stored_bytes "$t/mnt/read")
touch "$t/stop"
wait "$reader"
note "idle: $idle0 -> $(stored_bytes "$t/mnt/idle") bytes; read: $read0 -> $still while read"
assert_eq "$read0" "$still" "stored bytes of the file being read when the idle one went cold"
# Once the reads stop, it goes cold too: the reads, nothing else, kept it as it was.
wait_for 900 eval '[ "$(stored_bytes "$t/mnt/read")" -lt "$read0" ]' ||
	fail "the read file was not recompressed after its reads stopped"
unmount_boafs "$t/mnt"
