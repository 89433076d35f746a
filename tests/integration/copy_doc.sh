#!/usr/bin/env bash
# cp -a of a few hundred ordinary files (a /usr/share/doc subtree: text, gzip, symlinks, nested
# directories) into a mount: diff -r finds nothing, and modes, owners, mtimes and link targets
# are kept, also after a remount; tar of the copy equals tar of the source, and tar -x into the
# mount gives the same tree.
. "$(dirname "$0")/lib.sh"
require_boafs

t=$(it_tmpdir)
# The /usr/share/doc package dir with the most entries between 100 and 2000; failing that, the
# first 400 pages of /usr/share/man/man1.
src=
best=0
for d in /usr/share/doc/*/; do
	n=$(find "$d" | wc -l)
	if [ "$n" -ge 100 ] && [ "$n" -le 2000 ] && [ "$n" -gt "$best" ]; then
		best=$n
		src=${d%/}
	fi
done
if [ -z "$src" ]; then
	[ -d /usr/share/man/man1 ] || skip "neither /usr/share/doc nor /usr/share/man/man1 has files"
	src=$t/man1
	mkdir "$src"
	find /usr/share/man/man1 -maxdepth 1 -type f | sort | sed -n 1,400p | xargs -r cp -a -t "$src"
fi
note "copying $src ($(find "$src" | wc -l) entries, $(du -sh --apparent-size "$src" | cut -f1))"

mkdir "$t/mnt"
mount_boafs "$t/archive" "$t/mnt"
cp -a "$src" "$t/mnt/doc"
diff -r --no-dereference "$src" "$t/mnt/doc" || fail "diff -r found differences"
manifest "$src" >"$t/want"
manifest "$t/mnt/doc" >"$t/got"
diff "$t/want" "$t/got" || fail "metadata differs after cp -a"
# The same listing from readdir's point of view (ls, find).
diff <(cd "$src" && find . | sort) <(cd "$t/mnt/doc" && find . | sort) || fail "find differs"

remount_boafs "$t/archive" "$t/mnt"
manifest "$t/mnt/doc" >"$t/got2"
diff "$t/want" "$t/got2" || fail "metadata or contents differ after remount"

# tar out of the mount and into it: the archive of the tree is byte for byte the same.
tar -C "$src" --sort=name --numeric-owner -cf "$t/src.tar" .
tar -C "$t/mnt/doc" --sort=name --numeric-owner -cf "$t/mnt.tar" .
cmp "$t/src.tar" "$t/mnt.tar" || fail "tar of the copy differs from tar of the source"
mkdir "$t/mnt/untarred"
tar -C "$t/mnt/untarred" -xf "$t/src.tar"
diff -r --no-dereference "$src" "$t/mnt/untarred" || fail "tar -x into the mount"
