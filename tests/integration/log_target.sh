#!/usr/bin/env bash
# Where the daemon logs: -o log=FILE sends every line there, stamped with the time, and none to
# the stderr it was started with; -o log=syslog leaves that stderr alone too; a log file that
# cannot be opened is an error before anything is mounted. A recompression pass logs one line
# when it starts and one, with its counts, when it ends. The mount names the archive
# (fsname, subtype boafs) for mount, df and findmnt.
. "$(dirname "$0")/lib.sh"
require_boafs

t=$(it_tmpdir)
mkdir "$t/mnt"
printf 'some text to compress, some text to compress\n%.0s' {1..4000} >"$t/data"

rc=0
"$BOAFS_BIN" "$t/archive" "$t/mnt" -o log="$t/no/such/dir/log" </dev/null >"$t/out" 2>"$t/err" ||
	rc=$?
[ "$rc" -eq 1 ] || fail "log=unopenable: exit $rc"
grep -q 'log=.*No such file or directory' "$t/err" || fail "log=unopenable: $(cat "$t/err")"
[ -z "$(mounts_under "$t")" ] || fail "log=unopenable: mounted"

mount_boafs_daemon "$t/archive" "$t/mnt" -o log="$t/daemon.log",recompress=now,boa_level=1
stderr_log=$_it_log_file
src=$(findmnt -n -o SOURCE,FSTYPE --target "$t/mnt")
assert_eq "$t/archive fuse.boafs" "$(echo $src)" "findmnt source and type"
df --output=source "$t/mnt" | grep -qxF "$t/archive" || fail "df does not name the archive"
cp "$t/data" "$t/mnt/data"
sync -f "$t/mnt"
# BOA level 1 on 180 KB; the bound is for a sanitizer build with every core busy.
wait_for 600 grep -q 'recompression pass done' "$t/daemon.log" ||
	fail "no pass end in the log file: $(cat "$t/daemon.log")"
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[-+][0-9]{4} boafs: recompression pass started' \
	"$t/daemon.log" || fail "no stamped pass start line: $(cat "$t/daemon.log")"
grep -Eq 'pass done in .* s: [0-9]+ blocks recompressed \([0-9]+ -> [0-9]+ bytes\), [0-9]+ kept' \
	"$t/daemon.log" || fail "the pass end line has no counts: $(grep 'pass done' "$t/daemon.log")"
unmount_boafs "$t/mnt"
[ ! -s "$stderr_log" ] || fail "lines went to stderr with log=FILE: $(cat "$stderr_log")"

# log=syslog: nothing on the daemon's stderr either (where syslog puts it is the system's).
mount_boafs_daemon "$t/archive" "$t/mnt" -o log=syslog,recompress=now,boa_level=1
stderr_log=$_it_log_file
cp "$t/data" "$t/mnt/data2"
cmp "$t/data" "$t/mnt/data2"
unmount_boafs "$t/mnt"
[ ! -s "$stderr_log" ] || fail "lines went to stderr with log=syslog: $(cat "$stderr_log")"
