# shellcheck shell=bash
# lib-bench.sh — the setup the mount benchmarks (bench-io.sh, bench-reads.sh) share. Sourced, not run:
#   . "$(dirname "$0")/lib-bench.sh"
# It finds the build (BOAFS_BUILD, default ./build, else the first ./build*/ holding fs/boafs),
# puts the temp dir under BENCH_DIR (default /var/tmp: a disk, not a tmpfs), and sources
# tests/integration/lib.sh for the mount helpers (mount_boafs, unmount_boafs, is_mounted,
# it_tmpdir, fail) and its EXIT/INT/TERM trap, which unmounts every mount made and removes the
# temp dirs on any exit. Sets: src (the source tree), BOAFS_BUILD, BOAFS_SRC, HEP_DATA, TMPDIR.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${BOAFS_BUILD:-}" ]; then
	for d in "$src/build" "$src"/build*/; do
		if [ -x "$d/fs/boafs" ]; then
			BOAFS_BUILD=$(cd "$d" && pwd)
			break
		fi
	done
fi
: "${BOAFS_BUILD:?no build directory with fs/boafs found; set BOAFS_BUILD}"
export BOAFS_BUILD BOAFS_SRC=$src
export HEP_DATA=${HEP_DATA:-$src/tests/data/hep}
export TMPDIR=${BENCH_DIR:-/var/tmp}

# shellcheck source=../tests/integration/lib.sh
. "$src/tests/integration/lib.sh"
require_boafs

# Cold page cache before a read test: written data to disk and, as root, the kernel's page cache
# dropped (without root, plain-directory reads may be served from memory).
drop_page_cache() {
	sync
	if [ "$(id -u)" -eq 0 ]; then
		echo 3 >/proc/sys/vm/drop_caches
	fi
}
