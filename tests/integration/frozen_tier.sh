#!/usr/bin/env bash
# Two tiers: blocks neither written nor read for the cold period are recoded with BOA at the
# cold level (no Mamba); once untouched for the frozen period they are recoded at the frozen
# level, which mixes in the archive's model; the data reads back the same after both. With
# frozen=off the pool runs no frozen tier.
. "$(dirname "$0")/lib.sh"
require_boafs
require_boa
[ -d "$HEP_DATA" ] || skip "no HEP samples at $HEP_DATA"

t=$(it_tmpdir)
mkdir "$t/mnt"
# Blocks that use a model, from `boa models` (its sixth column), summed.
model_blocks() {
	"$BOA" models "$1" | awk 'NR > 1 && $6 ~ /^[0-9]+$/ { s += $6 } END { print s + 0 }'
}

make_data "$t/src" 262144
mount_boafs "$t/archive" "$t/mnt" -o recompress=cold:2,frozen=6,threads=1
cp "$t/src" "$t/mnt/f"
sync -f "$t/mnt"
zstd_bytes=$(stored_bytes "$t/mnt/f")
assert_eq 0 "$(model_blocks "$t/archive")" "blocks using a model before any recompression"
# Bounds for a sanitizer build with every core busy (BOA level 4 codes ~0.1 MB/s there).
wait_for 900 eval '[ "$(stored_bytes "$t/mnt/f")" -lt "$zstd_bytes" ]' ||
	fail "not recompressed at the cold level"
cold_bytes=$(stored_bytes "$t/mnt/f")
wait_for 900 eval '[ "$(model_blocks "$t/archive")" -gt 0 ]' ||
	fail "no block recoded at the frozen level: $(cat "$_it_log_file")"
note "stored: zstd $zstd_bytes, cold level $cold_bytes, frozen $(stored_bytes "$t/mnt/f") bytes; $(model_blocks "$t/archive") blocks use the model"
remount_boafs "$t/archive" "$t/mnt" -o recompress=off
cmp "$t/src" "$t/mnt/f" || fail "content after the frozen recoding"
unmount_boafs "$t/mnt"

# frozen=off: cold only.
mount_boafs "$t/archive2" "$t/mnt" -o recompress=cold:2,frozen=off,threads=1
cp "$t/src" "$t/mnt/f"
sync -f "$t/mnt"
zstd_bytes=$(stored_bytes "$t/mnt/f")
wait_for 900 eval '[ "$(stored_bytes "$t/mnt/f")" -lt "$zstd_bytes" ]' ||
	fail "frozen=off: not recompressed at the cold level"
# The pool says which tiers it runs when a pass starts: the frozen one is not among them.
grep 'recompression pass started' "$_it_log_file" | grep -q 'frozen' &&
	fail "frozen=off: the pass runs a frozen tier: $(grep 'pass started' "$_it_log_file")"
assert_eq 0 "$(model_blocks "$t/archive2")" "frozen=off: blocks using a model"
unmount_boafs "$t/mnt"
