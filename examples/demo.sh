#!/usr/bin/env bash
# The main job on a fresh Debian machine: install what is missing, build, create an archive,
# mount it, copy the HEP sample files in, verify them, and show logical vs stored sizes.
#   bash examples/demo.sh [ARCHIVE_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

pkgs=(build-essential libfuse3-dev fuse3 liblmdb-dev libzstd-dev libxxhash-dev zlib1g-dev liblz4-dev
      libcmocka-dev meson ninja-build pkg-config liblzma-dev libbz2-dev libbrotli-dev)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build fs/boafs boa | tail -1

data=${HEP_DATA:-$src/../shared/data/hep}
[ -d "$data" ] || data=$src/tests/data/hep # the copy kept with the tests
work=$(mktemp -d /tmp/boafs-demo.XXXXXX)
archive=${1:-$work/archive}
mnt=$work/mnt
mkdir -p "$mnt"
cleanup() {
	mountpoint -q "$mnt" && fusermount3 -u "$mnt"
	rm -rf "$mnt"
}
trap cleanup EXIT INT TERM

build/fs/boafs "$archive" "$mnt"
echo "mounted $archive on $mnt"
cp -a "$data" "$mnt/hep"
diff -r "$data" "$mnt/hep" && echo "copied $(ls "$data" | wc -l) files from $data: contents identical"
echo
echo "stored (du)         logical (du --apparent-size)   file"
for f in "$mnt"/hep/*; do
	printf '%-19s %-30s %s\n' "$(du -h "$f" | cut -f1)" "$(du -h --apparent-size "$f" | cut -f1)" \
		"$(basename "$f")"
done
printf '%-19s %-30s %s\n' "$(du -sh "$mnt/hep" | cut -f1)" \
	"$(du -sh --apparent-size "$mnt/hep" | cut -f1)" "total"
echo
echo "archive on disk: $(du -sh --exclude=reserve "$archive" | cut -f1) in $archive" \
	"(plus $(du -sh "$archive/reserve" | cut -f1) of reserve/ space kept for compaction while mounted)"
