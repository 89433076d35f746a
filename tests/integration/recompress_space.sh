#!/usr/bin/env bash
# Disk use follows recompression. After a pass has replaced the zstd records of the HEP samples
# with smaller BOA ones, compaction runs on its own (the superseded records would otherwise sit
# in segments that never reach the background threshold), and the archive's segments come
# within about 10% of the live bytes. The daemon logs one line when the pass starts and one,
# with its counts, when it ends.
. "$(dirname "$0")/lib.sh"
require_boafs
require_boa
[ -d "$HEP_DATA" ] || skip "no HEP samples at $HEP_DATA"

t=$(it_tmpdir)
mkdir "$t/mnt"
mount_boafs "$t/archive" "$t/mnt" -o recompress=now,boa_level=1
log=$_it_log_file
for i in 1 2; do
	mkdir "$t/mnt/copy$i"
	cp "$HEP_DATA"/*.root "$HEP_DATA"/*.lhe "$t/mnt/copy$i/"
done
sync -f "$t/mnt"
# Until the pass has ended and compaction has followed it. BOA level 1 on 2.6 MB takes seconds
# on a quiet machine; the bound is for a sanitizer build with every core busy.
wait_for 900 grep -q '^boafs: gc after recompression' "$log" ||
	fail "no compaction after the pass; log: $(cat "$log")"
grep '^boafs: recompression pass started' "$log" >/dev/null || fail "no pass start line"
done_line=$(grep '^boafs: recompression pass done' "$log" | head -n 1)
note "$done_line"
note "$(grep '^boafs: gc after recompression' "$log" | head -n 1)"
[[ $done_line =~ ([0-9]+)\ blocks\ recompressed ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] ||
	fail "the pass line does not count recompressed blocks: $done_line"
unmount_boafs "$t/mnt"

seg_bytes=$(find "$t/archive/seg" -name '*.seg' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
live=$("$BOA" stats --json "$t/archive" | python3 -c '
import json, sys
d = json.load(sys.stdin)
def find(o, k):
    if isinstance(o, dict):
        if k in o: return o[k]
        for v in o.values():
            r = find(v, k)
            if r is not None: return r
    return None
print(find(d, "live_bytes"))')
note "segments on disk: $seg_bytes bytes; live records: $live bytes"
[ "$live" != None ] && [ "$live" -gt 0 ] || fail "boa stats gave no live_bytes"
[ "$seg_bytes" -le $((live + live / 10)) ] ||
	fail "segments hold $seg_bytes bytes for $live live (more than 10% dead)"
rc=0
"$BOA" fsck "$t/archive" >"$t/fsck" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "boa fsck exit $rc: $(cat "$t/fsck")"
