"""Write the reference run `elpagen run --check` compares with, from one `run -o DIR`.

    elpagen run -o DIR                      # the default settings: class 1, 3 seeds, fast
    python benchmarks/reference_run.py DIR/benchmark_class1.json \
        [--pool-spread FORMER_REFERENCE.json] [-o src/elpagen/reference_runs/run_class1_fast.json]

The document holds every seed's metrics, the machine (torch's CPU capability included)
and each model's seed spread (`elpagen.agreement.reference_document`). A 3-seed standard
deviation is itself uncertain (2 degrees of freedom), so ``--pool-spread`` pools it with
the seed spreads stored in another reference file (its per-model ``spread`` and
``spread_dof``, e.g. the reference run this one replaces: a seed's spread is a property
of the seeds and the model, and a budget that keeps the metrics within one spread keeps
it about the same). docs/results.md says which runs the shipped spread pools.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from elpagen import agreement


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("result", type=Path, help="benchmark_class<C>.json of `elpagen run -o DIR`")
    ap.add_argument("--pool-spread", type=Path, metavar="FILE",
                    help="a reference run whose stored seed spreads are pooled in")
    ap.add_argument("--label", default="the former reference run's pooled seed spread",
                    help="how the pooled spread is described in the document")
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--overwrite", action="store_true")
    a = ap.parse_args()
    if a.output.exists() and not a.overwrite:
        sys.exit(f"error: {a.output} exists: pass --overwrite to replace it")
    import torch  # only for the CPU capability the run's kernels used

    result = json.loads(a.result.read_text())
    spread_runs = []
    if a.pool_spread is not None:
        former = json.loads(a.pool_spread.read_text())
        # One pseudo-run per model with the stored spread's degrees of freedom (n = dof + 1).
        for name, m in former["models"].items():
            if m.get("exact") or not m.get("spread_dof"):
                continue
            spread_runs.append({"label": f"{a.label} ({name})", "n": int(m["spread_dof"]) + 1,
                                "std": {name: m["spread"]}})
    doc = agreement.reference_document(result, isa=torch.backends.cpu.get_cpu_capability(),
                                       spread_runs=spread_runs)
    a.output.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {a.output}")


if __name__ == "__main__":
    main()
