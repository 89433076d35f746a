#!/usr/bin/env bash
# cp -a of the real HEP sample files into a mount: identical bytes, metadata kept, and `du` shows
# compressed use (less than `du --apparent-size`) on the compressible files, while the
# already-compressed ROOT file is stored raw (not larger than itself).
. "$(dirname "$0")/lib.sh"
require_boafs
[ -d "$HEP_DATA" ] || fail "HEP_DATA not found: $HEP_DATA"

t=$(it_tmpdir)
mkdir "$t/mnt"
mount_boafs "$t/archive" "$t/mnt"

cp -a "$HEP_DATA" "$t/mnt/hep"
diff -r "$HEP_DATA" "$t/mnt/hep" || fail "diff -r found differences"
(cd "$HEP_DATA" && sha256sum -- *) >"$t/want.sha"
(cd "$t/mnt/hep" && sha256sum -- *) >"$t/got.sha"
diff "$t/want.sha" "$t/got.sha" || fail "sha256sum differs"
diff <(manifest "$HEP_DATA") <(manifest "$t/mnt/hep") || fail "metadata not kept by cp -a"

compressible=(pylhe-testfile-hpcgen.hdf5 pylhe-testfile-powheg-box-v2-Z.lhe
	pylhe-testfile-pr29.lhe uproot-Zmumu-uncompressed.root
	uproot-sample-5.23.02-uncompressed.root uproot-sample-6.20.04-uncompressed.root)
incompressible=uproot-HZZ.root

check_sizes() {
	local f stored logical total_stored=0 total_logical=0
	for f in "${compressible[@]}"; do
		stored=$(stored_bytes "$t/mnt/hep/$f")
		logical=$(file_size "$t/mnt/hep/$f")
		[ "$stored" -gt 0 ] || { note "$f: st_blocks is 0"; return 1; }
		[ "$stored" -lt "$logical" ] || { note "$f: stored $stored >= size $logical"; return 1; }
		total_stored=$((total_stored + stored))
		total_logical=$((total_logical + logical))
	done
	# zstd -3 on 128 KiB blocks stores these six files in ~40% of their size.
	[ $((total_stored * 10)) -lt $((total_logical * 7)) ] ||
		{ note "compressible files: stored $total_stored of $total_logical"; return 1; }
	stored=$(stored_bytes "$t/mnt/hep/$incompressible")
	logical=$(file_size "$t/mnt/hep/$incompressible")
	# Stored raw: neither shrunk by a miracle nor grown by more than st_blocks rounding.
	[ "$stored" -ge $((logical * 9 / 10)) ] && [ "$stored" -le $((logical + 4096)) ] ||
		{ note "$incompressible: stored $stored for $logical bytes"; return 1; }
	local du_c du_a
	du_c=$(du -s -B1 "$t/mnt/hep" | cut -f1)
	du_a=$(du -s -B1 --apparent-size "$t/mnt/hep" | cut -f1)
	note "du: $du_c, du --apparent-size: $du_a"
	[ "$du_c" -lt "$du_a" ] || { note "du $du_c not below apparent size $du_a"; return 1; }
}

# st_blocks may lag while attributes are cached; give it a few seconds on the live mount.
wait_for 5 check_sizes || fail "du/st_blocks on the live mount"
remount_boafs "$t/archive" "$t/mnt"
check_sizes || fail "du/st_blocks after remount"
diff -r "$HEP_DATA" "$t/mnt/hep" || fail "diff -r after remount"
