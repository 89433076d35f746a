#!/usr/bin/env bash
# Leave-one-out evaluation of the Mamba prior: for each uncompressed HEP sample, train the default
# model's architecture (dim 32 x 2 layers, as train-default-model.sh) on the other five files,
# then compress the held-out file at level 1 (no model), level 4 with the built-in model (which
# saw every file) and level 4 with the model that never saw it. Prints one row per file and the
# totals; every archive is decompressed and compared.
#
# Training dominates: about 40 s per epoch and fold on 5 cores. EPOCHS (default 12) and THREADS
# (default nproc) trade time for model quality; MODELS=DIR reuses models trained earlier
# (DIR/loo-FILE.boam), e.g. on a bigger machine. Results: examples/boa-frontier.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
data=${HEP_DATA:-tests/data/hep}
files=(pylhe-testfile-hpcgen.hdf5 pylhe-testfile-powheg-box-v2-Z.lhe pylhe-testfile-pr29.lhe
       uproot-Zmumu-uncompressed.root uproot-sample-5.23.02-uncompressed.root
       uproot-sample-6.20.04-uncompressed.root)
build=${BUILD:-build-loo}
[ -d "$build" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" boa >/dev/null
boa=$root/$build/boa
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
models=${MODELS:-$work}

size_of() { # LEVEL FILE [MODEL]: compressed size, after a checked round trip
	local level=$1 in=$2 model=${3:-} m=()
	[ -z "$model" ] || m=(-m "$model")
	"$boa" compress "-$level" "${m[@]}" -f --verify "$in" "$work/c.boa"
	"$boa" decompress "${m[@]}" -f "$work/c.boa" "$work/d"
	cmp -s "$in" "$work/d" || { echo "round trip of $in differs" >&2; exit 1; }
	stat -c %s "$work/c.boa"
}

printf '%-42s %9s %9s %11s %9s %8s\n' file raw boa-1 boa-4-seen boa-4-loo loo-gain
t_raw=0 t1=0 t4=0 tl=0
for held in "${files[@]}"; do
	model=$models/loo-$held.boam
	if [ ! -f "$model" ]; then
		train=()
		for f in "${files[@]}"; do [ "$f" = "$held" ] || train+=("$data/$f"); done
		"$boa" train "${train[@]}" -o "$model" --dim 32 --layers 2 --epochs "${EPOCHS:-12}" \
			--batch 16 --lr 0.003 --seq-len 256 --stream-len 8192 --val-split 0.1 --seed 1 \
			--threads "${THREADS:-$(nproc)}" >/dev/null
	fi
	raw=$(stat -c %s "$data/$held")
	s1=$(size_of 1 "$data/$held")
	s4=$(size_of 4 "$data/$held")
	sl=$(size_of 4 "$data/$held" "$model")
	printf '%-42s %9d %9d %11d %9d %7.2f%%\n' "$held" "$raw" "$s1" "$s4" "$sl" \
		"$(echo "($sl - $s1) * 100 / $s1" | bc -l)"
	t_raw=$((t_raw + raw)) t1=$((t1 + s1)) t4=$((t4 + s4)) tl=$((tl + sl))
done
printf '%-42s %9d %9d %11d %9d %7.2f%%\n' TOTAL "$t_raw" "$t1" "$t4" "$tl" \
	"$(echo "($tl - $t1) * 100 / $t1" | bc -l)"
