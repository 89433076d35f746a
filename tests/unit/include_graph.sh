#!/usr/bin/env bash
# The include graph of the sources has no upward arrow and no circle:
#   - nothing in codec/ or index/ includes a header of fs/ (the libraries under the daemon);
#   - nothing in the fs/ library includes a header of fs/prog/ (the programs sit on top);
#   - no circle between modules, a module being a .c file and its .h (fs/fs_file.c and
#     fs/fs_file.h are one node; a module's private NAME_impl.h belongs to it too; fs/fs.h, a
#     header alone, is a node of its own).
# Only quoted includes of headers that exist in the tree count; system headers and generated
# files are not arrows of the tree.
#
# usage: tests/unit/include_graph.sh [ROOT]    ROOT: the source tree (default: this checkout)
#        tests/unit/include_graph.sh --self-test
# --self-test plants an upward include, then a circle, in a copy of the tree and checks that
# each is caught, so this test is known to be able to fail.
set -euo pipefail

check() {
	local root=$1 fail=0 f inc h from to tmp
	local -A where=()
	local -a files=() edges=()

	cd "$root"
	mapfile -t files < <(find codec index fs -name '*.[ch]' | LC_ALL=C sort)
	for f in "${files[@]}"; do
		[[ $f == *.h ]] || continue
		if [ -n "${where[${f##*/}]:-}" ]; then
			echo "FAIL: two headers named ${f##*/}: ${where[${f##*/}]} and $f" >&2
			fail=1
		fi
		where[${f##*/}]=$f
	done
	for f in "${files[@]}"; do
		while read -r inc; do
			h=${where[${inc##*/}]:-}
			[ -n "$h" ] || continue
			case $f:$h in
			codec/*:fs/* | index/*:fs/*)
				echo "FAIL: $f includes $h: codec/ and index/ never include fs/" >&2
				fail=1
				;;
			fs/prog/*:*) ;;
			fs/*:fs/prog/*)
				echo "FAIL: $f includes $h: the fs/ library never includes the programs" >&2
				fail=1
				;;
			esac
			from=${f%.*}
			from=${from%_impl}
			to=${h%.*}
			to=${to%_impl}
			[ "$from" = "$to" ] || edges+=("$from $to")
		done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
	done
	tmp=$(mktemp)
	if ! printf '%s\n' "${edges[@]}" | tsort >/dev/null 2>"$tmp"; then
		echo "FAIL: an include circle between modules (tsort lists its members):" >&2
		cat "$tmp" >&2
		fail=1
	fi
	rm -f "$tmp"
	[ "$fail" -eq 0 ] && echo "include graph: ${#files[@]} files, ${#edges[@]} arrows, none up, no circle"
	return "$fail"
}

self_test() {
	local src=$1
	dir=$(mktemp -d)
	trap 'rm -rf "$dir"' EXIT
	cp -r "$src/codec" "$src/index" "$src/fs" "$dir/"
	check "$dir" >/dev/null || {
		echo "FAIL: the copy of the tree does not pass to begin with" >&2
		return 1
	}
	cp "$dir/codec/codec.c" "$dir/codec.c.orig"
	echo '#include "fs.h"' >>"$dir/codec/codec.c"
	if (check "$dir") 2>/dev/null; then
		echo "FAIL: codec/codec.c including fs.h was not caught" >&2
		return 1
	fi
	cp "$dir/codec.c.orig" "$dir/codec/codec.c"
	echo '#include "fs_file.h"' >>"$dir/fs/fs_log.h" # fs_file.c includes fs_log.h
	if (check "$dir") 2>/dev/null; then
		echo "FAIL: the circle fs_file -> fs_log -> fs_file was not caught" >&2
		return 1
	fi
	echo "self-test: an upward include and a circle are both caught"
}

src=${BOAFS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
if [ "${1:-}" = "--self-test" ]; then
	self_test "$src"
else
	check "${1:-$src}"
fi
