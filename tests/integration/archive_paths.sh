#!/usr/bin/env bash
# The archive commands (stats, fsck, gc, models, wait) on a path that is not an archive say what
# they found there: nothing ("No such file or directory"), a regular file, an empty directory or
# somebody else's directory. They exit 1 (fsck: 8, an operational error, as fsck(8)) and leave
# the path as it was: a missing path is not created, an empty directory stays empty.
. "$(dirname "$0")/lib.sh"
require_boa

t=$(it_tmpdir)
printf 'plain\n' >"$t/file"
mkdir "$t/empty" "$t/foreign"
printf 'somebody else\n' >"$t/foreign/readme.txt"

# check CMD PATH PATTERN: boa CMD PATH fails with the documented status and says PATTERN.
check() {
	local cmd=$1 path=$2 pattern=$3 rc=0 want=1
	[ "$cmd" = fsck ] && want=8
	timeout -k 5 60 "$BOA" "$cmd" "$path" </dev/null >"$t/out" 2>"$t/err" || rc=$?
	note "boa $cmd $(basename "$path"): exit $rc: $(cat "$t/err")"
	[ "$rc" -eq "$want" ] || fail "boa $cmd $path: exit status $rc, expected $want"
	grep -qF -- "$pattern" "$t/err" || fail "boa $cmd $path: error does not say '$pattern'"
}

for cmd in stats fsck gc models wait; do
	check "$cmd" "$t/missing" "No such file or directory"
	[ ! -e "$t/missing" ] || fail "boa $cmd created the missing path"
	check "$cmd" "$t/file" "not a directory"
	check "$cmd" "$t/empty" "not a boafs archive (empty)"
	assert_eq "" "$(ls -A "$t/empty")" "the empty directory after boa $cmd"
	check "$cmd" "$t/foreign" "it holds 'readme.txt'"
	assert_eq "readme.txt" "$(ls -A "$t/foreign")" "the foreign directory after boa $cmd"
done
assert_eq "plain" "$(cat "$t/file")" "the regular file"
