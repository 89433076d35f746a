#!/usr/bin/env bash
# boafs and `boa gc` never write into a directory that is not an archive, even one that holds an
# index/ folder: they refuse with an error that says what they found, and every entry's name,
# size, mode and mtime is as it was (no ARCHIVE/lock, no index/lock.mdb).
. "$(dirname "$0")/lib.sh"
require_boafs
require_boa

t=$(it_tmpdir)
mkdir "$t/mnt"

# listing DIR: every entry below DIR (itself included) with its type, mode, size and mtime.
listing() {
	(cd "$1" && find . -printf '%p %y %m %s %T@\n' | sort)
}

# check_refused WHAT DIR PATTERN: boafs and boa gc on DIR fail, say PATTERN, and change nothing.
check_refused() {
	local what=$1 dir=$2 pattern=$3 before rc
	before=$(listing "$dir")
	rc=0
	timeout -k 5 60 "$BOAFS_BIN" "$dir" "$t/mnt" </dev/null >"$t/out" 2>"$t/err" || rc=$?
	note "boafs, $what: exit $rc: $(cat "$t/err")"
	[ -z "$(mounts_under "$t")" ] || fail "$what: boafs mounted it"
	[ "$rc" -eq 1 ] || fail "$what: boafs exit status $rc, expected 1"
	grep -q -- "$pattern" "$t/err" || fail "$what: boafs's error does not say '$pattern'"
	assert_eq "$before" "$(listing "$dir")" "$what: directory after boafs"
	rc=0
	timeout -k 5 60 "$BOA" gc "$dir" </dev/null >"$t/out" 2>"$t/err" || rc=$?
	note "boa gc, $what: exit $rc: $(cat "$t/err")"
	[ "$rc" -ne 0 ] && [ "$rc" -lt 124 ] || fail "$what: boa gc exit status $rc"
	grep -q -- "$pattern" "$t/err" || fail "$what: boa gc's error does not say '$pattern'"
	assert_eq "$before" "$(listing "$dir")" "$what: directory after boa gc"
}

# Old mtimes, so that any touch of an entry shows.
mkdir -p "$t/project/index" "$t/project/src"
printf 'term;page\n' >"$t/project/index/terms.csv"
printf 'int main(void) { return 0; }\n' >"$t/project/src/main.c"
find "$t/project" -exec touch -d '2020-01-01 00:00:00' {} +
check_refused "a project with an index/ folder" "$t/project" "without index/data.mdb"

mkdir -p "$t/halfway/index"
printf 'x' >"$t/halfway/index/data.mdb"
find "$t/halfway" -exec touch -d '2020-01-01 00:00:00' {} +
check_refused "index/data.mdb but no seg/" "$t/halfway" "no seg/"

mkdir -p "$t/notes"
printf 'somebody else\n' >"$t/notes/readme.txt"
find "$t/notes" -exec touch -d '2020-01-01 00:00:00' {} +
check_refused "a directory with no index/" "$t/notes" "it holds 'readme.txt'"

# The same checks pass a real archive, and an empty directory still becomes one.
mkdir "$t/empty"
mount_boafs "$t/empty" "$t/mnt"
printf 'kept\n' >"$t/mnt/f"
unmount_boafs "$t/mnt"
[ -f "$t/empty/index/data.mdb" ] && [ -d "$t/empty/seg" ] || fail "empty dir did not become an archive"
"$BOA" gc "$t/empty" >/dev/null || fail "boa gc refused a real archive"
mount_boafs "$t/empty" "$t/mnt"
assert_eq "kept" "$(cat "$t/mnt/f")" "content of the archive"
unmount_boafs "$t/mnt"
