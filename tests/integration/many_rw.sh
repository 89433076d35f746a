#!/usr/bin/env bash
# Concurrency: six writers (sequential streams, random pwrites checked against reference files,
# appends of small records) and four readers at the same time, each on its own files, on a mount
# with a small block cache; then everything is verified live and after a remount.
. "$(dirname "$0")/lib.sh"
require_boafs
[ -x "$PREAD_CHECK" ] || fail "pread_check not built: $PREAD_CHECK"

t=$(it_tmpdir)
mkdir "$t/mnt" "$t/ref"
m=$t/mnt
a=$t/archive
mount_boafs "$a" "$m" -o cache_size=2M

for i in 1 2; do make_data "$t/ref/seq$i" $((8 * 1024 * 1024 + i * 1000)); done
for i in 1 2; do make_data "$t/ref/rw$i" $((3 * 1024 * 1024 + i)); done
cp "$t/ref/rw1" "$t/ref/rw2" "$m/"
for f in "$HEP_DATA"/*; do cp "$f" "$m/"; done

pids=()
for i in 1 2; do
	dd if="$t/ref/seq$i" of="$m/seq$i" bs=$((4096 * i + 512)) status=none &
	pids+=($!)
	"$PREAD_CHECK" -w -n 400 -s "$i" "$m/rw$i" "$t/ref/rw$i" &
	pids+=($!)
	(for k in $(seq 1 300); do printf 'record %05d of appender %d\n' "$k" "$i"; done |
		while IFS= read -r line; do printf '%s\n' "$line" >>"$m/log$i"; done) &
	pids+=($!)
done
for f in "$HEP_DATA"/*; do
	[ "$(basename "$f")" = README.md ] && continue
	(for k in 1 2 3; do cmp "$f" "$m/$(basename "$f")" || exit 1; done) &
	pids+=($!)
done
failed=0
for p in "${pids[@]}"; do
	wait "$p" || failed=$((failed + 1))
done
[ "$failed" -eq 0 ] || fail "$failed of ${#pids[@]} concurrent jobs failed"

verify() {
	local i k
	for i in 1 2; do
		cmp "$t/ref/seq$i" "$m/seq$i" || fail "seq$i ($1)"
		cmp "$t/ref/rw$i" "$m/rw$i" || fail "rw$i ($1)"
		for k in $(seq 1 300); do printf 'record %05d of appender %d\n' "$k" "$i"; done |
			cmp - "$m/log$i" || fail "log$i ($1)"
	done
	for f in "$HEP_DATA"/*; do
		cmp "$f" "$m/$(basename "$f")" || fail "$(basename "$f") ($1)"
	done
}
verify live
remount_boafs "$a" "$m"
verify "after remount"
