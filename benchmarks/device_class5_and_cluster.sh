#!/usr/bin/env bash
# One device lease, two measurements (docs/benchmarks.md, docs/results.md):
#  1. the 16-core study scaling of issue 11: `elpagen study --quick --seeds 3`, serial
#     against a local Dask cluster of 16 single-threaded workers (CPU only);
#  2. the class-5 precision-coverage frontier of issue 10 at 25 M valid samples per knob
#     value, every generator, one seed, on the GPU (one model per run so that a
#     timeout keeps the models already done).
# Usage: OUT=DIR ELPAGEN_DATA=... ELPAGEN_CACHE=... bash benchmarks/device_class5_and_cluster.sh
set -uo pipefail
OUT=${OUT:?set OUT}
E="python3 -m elpagen.cli"
nproc; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
for mode in serial workers16; do
  opt=""; [ "$mode" = workers16 ] && opt="--workers 16"
  s=$SECONDS
  timeout 150 $E study --quick --seeds 3 --device cpu -q $opt -o "/tmp/study-$mode" \
    > "$OUT/study_$mode.log" 2>&1
  echo "study --quick --seeds 3 $mode: rc $? in $((SECONDS - s)) s" | tee -a "$OUT/timings.txt"
done
python3 - <<'PY' | tee -a "$OUT/timings.txt"
from elpagen.study.store import Store
def metrics(d):
    with Store.open_readonly(d) as st:
        return {u["key"]: {k: u["payload"]["metrics"].get(k) for k in ("precision", "coverage")}
                for u in st.units()}
a, b = metrics("/tmp/study-serial"), metrics("/tmp/study-workers16")
print(f"units: serial {len(a)}, workers16 {len(b)}; identical metrics: {a == b}")
PY
for m in ${FRONTIER_MODELS:-rl marginal random surrogate ar gfn vae gan}; do
  s=$SECONDS
  timeout "${FRONTIER_LIMIT:-150}" $E frontier --models $m -c 5 -n "${FRONTIER_N:-25000000}" --seeds 1 \
    --device "${DEVICE:-cuda}" -q -o "$OUT/f5_$m" > "$OUT/f5_$m.log" 2>&1
  echo "frontier class 5 $m: rc $? in $((SECONDS - s)) s" | tee -a "$OUT/timings.txt"
done
