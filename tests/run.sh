#!/usr/bin/env bash
# The whole test suite from scratch: installs what is missing (Debian), builds, runs every suite,
# then builds again with ASan+UBSan and runs them once more. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential clang libfuse3-dev fuse3 liblmdb-dev libzstd-dev libxxhash-dev
      libcmocka-dev meson ninja-build pkg-config liblzma-dev libbz2-dev libbrotli-dev
      zlib1g-dev liblz4-dev
      xz-utils zstd zpaq fio attr clang-format rsync util-linux-extra python3)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

run_suites() {
	local dir=$1
	meson test -C "$dir" --print-errorlogs --num-processes 2 --timeout-multiplier 3
}

rm -rf build-test build-asan
meson setup build-test --buildtype=debugoptimized >/dev/null
ninja -C build-test
run_suites build-test

# -O1, as the ASan documentation advises: at -O0 a 128 KiB BOA block costs seconds of CPU and the
# recompression tests spend most of the pass waiting for the pool; -O1 keeps every check.
meson setup build-asan -Doptimization=1 -Ddebug=true -Db_sanitize=address,undefined \
	-Db_lundef=false >/dev/null
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	run_suites build-asan
echo "all tests passed"
