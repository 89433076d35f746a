#!/usr/bin/env bash
# Every C file of the repository is as clang-format (.clang-format) writes it. Generated tables
# (codec/mix_tables.c, written by codec/mix_gen_tables.py) are left as the generator prints them.
# Skipped (exit 77) where clang-format is not installed; tests/run.sh installs it.
set -euo pipefail
cd "${BOAFS_SRC:-$(dirname "$0")/../..}"
command -v clang-format >/dev/null || { echo "clang-format not installed: skipped"; exit 77; }
bad=0
while IFS= read -r f; do
	case $f in codec/mix_tables.c) continue ;; esac
	if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (clang-format -i $f)"
		bad=1
	fi
done < <(git ls-files '*.c' '*.h' 2>/dev/null || find codec fs index tests -name '*.[ch]')
exit $bad
