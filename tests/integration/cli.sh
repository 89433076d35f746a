#!/usr/bin/env bash
# The command line: -h/--help prints usage naming the options and exits 0; -V/--version prints
# the project version and exits 0; neither creates or mounts anything.
. "$(dirname "$0")/lib.sh"
require_boafs

t=$(it_tmpdir)
version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$BOAFS_SRC/meson.build" | sed -n 1p)
[ -n "$version" ] || fail "no version in $BOAFS_SRC/meson.build"

for h in -h --help; do
	out=$(cd "$t" && "$BOAFS_BIN" "$h" 2>&1) || fail "boafs $h: exit status $?"
	for word in ARCHIVE MOUNTPOINT block_size zstd_level cache_size threads recompress; do
		grep -q -- "$word" <<<"$out" || fail "boafs $h does not mention $word"
	done
done
for v in -V --version; do
	out=$(cd "$t" && "$BOAFS_BIN" "$v" 2>&1) || fail "boafs $v: exit status $?"
	grep -qF -- "$version" <<<"$out" || fail "boafs $v: '$out' lacks version $version"
done
assert_eq "" "$(ls -A "$t")" "files created by -h/-V"
