#!/usr/bin/env bash
# What boafs is for, in a few minutes: files go in with zstd, a background pool recompresses
# them with BOA, and the same files then take less disk while every byte reads back the same.
#
#   bash examples/demo.sh [ARCHIVE_DIR]
#
# It installs what is missing (Debian), builds, creates an archive, mounts it, copies the HEP
# sample files in, recompresses them now (with progress) and waits until the pool is done,
# prints the bytes stored per file after zstd and after BOA beside `xz -9e` of the same file,
# reads everything back and compares it, and explains the archive's size on disk. Without
# ARCHIVE_DIR the archive lives in a temp dir and is removed at the end; with it, the archive is
# kept there.
#
# Environment: BOA_LEVEL (default: the daemon's boa_level; 5-9 mix in the Mamba model),
# DEMO_DATA (a directory of files to use instead of the HEP samples), BOAFS_BUILD (an existing
# build directory: nothing is installed or built).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
level=${BOA_LEVEL:-}

say() { printf '\n== %s\n' "$*"; }

if [ -z "${BOAFS_BUILD:-}" ]; then
	say "build"
	pkgs=(build-essential libfuse3-dev fuse3 liblmdb-dev libzstd-dev libxxhash-dev
	      libcmocka-dev meson ninja-build pkg-config liblzma-dev libbz2-dev libbrotli-dev
	      zlib1g-dev liblz4-dev xz-utils)
	missing=()
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		sudo=""
		[ "$(id -u)" -eq 0 ] || sudo=sudo
		echo "installing ${missing[*]}"
		$sudo apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
	[ -d build ] || meson setup build --buildtype=release >/dev/null
	ninja -C build fs/boafs boa | tail -1
	BOAFS_BUILD=$src/build
fi
boafs=$BOAFS_BUILD/fs/boafs
boa=$BOAFS_BUILD/boa

# The sample files: the HEP samples kept with the tests (CMS ROOT trees, LHE event text, an
# HDF5 file and one already-compressed ROOT file), unless DEMO_DATA names others.
data=${DEMO_DATA:-$src/tests/data/hep}
work=$(mktemp -d "${TMPDIR:-/tmp}/boafs-demo.XXXXXX")
keep=${1:+yes} # an archive named by the user stays
archive=${1:-$work/archive}
archive=$(realpath -m -- "$archive")
mnt=$work/mnt
log=$work/boafs.log
mkdir -p "$mnt" "$work/data"
# Plain files only (the README of the samples is not data).
for f in "$data"/*; do
	case $f in *.md | *.txt) continue ;; esac
	[ -f "$f" ] && cp -- "$f" "$work/data/"
done
files=$(ls "$work/data")

daemon=
cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	if mountpoint -q "$mnt"; then # lazily when busy: rm must never walk into the mount
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt"
	fi
	[ -n "$daemon" ] && wait "$daemon" 2>/dev/null
	if [ "$rc" -ne 0 ] && [ -s "$log" ]; then
		echo "boafs log ($log):" >&2
		sed 's/^/  | /' "$log" >&2
	fi
	if [ -n "$keep" ] || [ "$rc" -ne 0 ]; then
		rm -rf --one-file-system "$work/data" "$mnt"
	else
		rm -rf --one-file-system "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# mount [OPTIONS]: runs the daemon in the foreground of a background job (so that unmount can
# wait for it to finish writing the index), and waits until the mount is up.
mount_archive() {
	"$boafs" "$archive" "$mnt" -f -o "$1" </dev/null 2>>"$log" &
	daemon=$!
	until mountpoint -q "$mnt"; do
		kill -0 "$daemon" 2>/dev/null || {
			wait "$daemon" || true
			daemon=
			echo "boafs did not mount $archive" >&2
			exit 1
		}
		sleep 0.1
	done
}
unmount_archive() {
	fusermount3 -u "$mnt"
	wait "$daemon"
	daemon=
}
# stored FILE: the bytes FILE takes in the archive, as the mount reports them (st_blocks).
stored() { echo $(($(stat -c %b -- "$1") * 512)); }
stats_field() { # FIELD: a figure from `boa stats --json ARCHIVE` (works while mounted)
	"$boa" stats --json --sample 0 "$archive" | python3 -c "
import json, sys
s = json.load(sys.stdin)
for k in sys.argv[1].split('.'):
    s = s[k]
print(s)" "$1"
}

say "a new archive in $archive, mounted on $mnt"
mount_archive recompress=off
cp -a "$work/data" "$mnt/hep"
echo "copied $(echo "$files" | wc -l) files ($(du -sh --apparent-size "$work/data" | cut -f1))" \
	"from $data; new data is written with zstd"
unmount_archive

# What zstd stored, read from a fresh mount (no cache of the first one).
mount_archive recompress=off
declare -A zstd_bytes
for f in $files; do
	zstd_bytes[$f]=$(stored "$mnt/hep/$f")
done
pending=$(stats_field pending_blocks)
unmount_archive

say "recompressing now with BOA level ${level:-(the default)} (the pool runs in the daemon, at nice 19)"
mount_archive "recompress=now${level:+,boa_level=$level}"
# `boa wait` blocks until the pool has tried every block (a condition, not a time), with a
# progress bar and an ETA on a terminal.
start=$SECONDS
echo "$pending blocks to try: boa wait $mnt"
"$boa" wait "$mnt"
echo "done in $((SECONDS - start))s: $(stats_field codecs.boa.blocks) blocks are BOA now," \
	"$(stats_field codecs.boa.cpu_encode_s | cut -c1-6) CPU s to encode and" \
	"$(stats_field codecs.boa.cpu_decode_s | cut -c1-6) CPU s to verify"
unmount_archive

say "stored bytes per file (boafs: st_blocks x 512, what du counts)"
mount_archive recompress=off,ro
printf '%-42s %10s %11s %11s %11s\n' file logical "boafs zstd" "boafs BOA" "xz -9e"
tl=0 tz=0 tb=0 tx=0
for f in $files; do
	l=$(stat -c %s -- "$work/data/$f")
	z=${zstd_bytes[$f]}
	b=$(stored "$mnt/hep/$f")
	x=$(xz -9e -c -- "$work/data/$f" | wc -c)
	printf '%-42s %10d %11d %11d %11d\n' "$f" "$l" "$z" "$b" "$x"
	tl=$((tl + l)) tz=$((tz + z)) tb=$((tb + b)) tx=$((tx + x))
done
printf '%-42s %10d %11d %11d %11d\n' total "$tl" "$tz" "$tb" "$tx"
ratio() { python3 -c "print('%.2fx' % ($1 / $2))"; }
printf '%-42s %10s %11s %11s %11s\n' "ratio (logical / stored)" "" "$(ratio "$tl" "$tz")" \
	"$(ratio "$tl" "$tb")" "$(ratio "$tl" "$tx")"
echo "BOA: $tb bytes stored, $((100 - tb * 100 / tz))% less than zstd; xz -9e of whole files" \
	"(no random access): $tx bytes"
echo "(A file compressed inside, ROOT baskets or gzip, that boafs can re-create exactly is stored" \
	"unwrapped: its decompressed bytes, BOA-coded; see -o unwrap= in man boafs.)"

say "reading everything back"
diff -r "$work/data" "$mnt/hep"
echo "all $(echo "$files" | wc -l) files read back identical to the originals"
unmount_archive

say "archive on disk"
live=$(stats_field space.live_bytes)
dead=$(stats_field space.dead_bytes)
idx=$(stats_field space.index_bytes)
model=$("$boa" models "$archive" | awk 'NR > 1 { s += $2 } END { print s + 0 }')
echo "files' stored bytes: $tb (st_blocks rounds each file up to 512 bytes)"
echo "segments:            $((live + dead)) bytes: $live in live block records (headers included)," \
	"$dead in records that recompression superseded and compaction has not removed yet"
echo "index (LMDB):        $idx bytes, of which $model are the stored BOA model (every block" \
	"names the model that encoded it, so the archive carries it: decoding needs no other file)"
echo "archive total:       $(du -sb --exclude=reserve "$archive" | cut -f1) bytes" \
	"(du, without reserve/: space held back for compaction while mounted)"
echo "On a few MB the model and the index are most of the gap; on real data sets they are fixed" \
	"costs and the segments dominate."

if [ -n "$keep" ]; then
	echo
	echo "the archive stays in $archive: mount it with  $boafs $archive MOUNTPOINT"
else
	echo
	echo "removed the demo's archive ($work); pass a directory to keep one: bash examples/demo.sh DIR"
fi
