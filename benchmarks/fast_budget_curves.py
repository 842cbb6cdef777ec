"""Training curves of the fast protocol: class-1 precision and coverage against the budget.

    python benchmarks/fast_budget_curves.py OUT_DIR --run [--fractions 0.25,0.5,0.75,1]
    python benchmarks/fast_budget_curves.py OUT_DIR [--baseline 1.0] [--markdown]

``--run`` trains every trained model (vae, gan, rl, ar, gfn, surrogate) at each fraction of
its *former* fast budget (the steps in ``FORMER`` below; seeds 0-2, fresh fits at every
budget, class 1, 10,000 samples, one `elpagen benchmark --json` per fraction in
``OUT_DIR/frac_F.json``). Without ``--run`` it reads those files and prints, per model and
budget, precision and coverage (mean ± sd over the 3 seeds) and their distance to the
baseline fraction's means in units of the model's seed spread (the pooled spread of the
shipped reference run, 6 degrees of freedom). The rule of issue 28: the fast budget is the
smallest at which both metrics stay within one seed spread of the former budget's values.
The seeds are those of the reference run (0, 1, 2), so the comparison is paired: each
seed starts from the same initial weights at every budget.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from elpagen import agreement

#: The fast protocol's steps before issue 28 (the budgets the curves are fractions of).
FORMER = {"vae": 3_000, "gan": 3_000, "rl": 10_000, "ar": 2_000, "gfn": 2_000,
          "surrogate": 6_000}
METRICS = ("precision", "coverage")


def run(out: Path, fractions: list[float], jobs: int) -> None:
    """One benchmark per fraction (skipped when its file exists)."""
    out.mkdir(parents=True, exist_ok=True)
    for f in fractions:
        path = out / f"frac_{f}.json"
        if path.exists():
            continue
        sets = [a for m, s in FORMER.items() for a in ("--set", f"{m}.steps={round(s * f)}")]
        cmd = ["elpagen", "benchmark", "--models", ",".join(FORMER), "-c", "1", "-n", "10000",
               "--seeds", "3", "--rarefaction-draws", "0", "--jobs", str(jobs), "--json", *sets]
        print(" ".join(cmd), file=sys.stderr)
        result = subprocess.run(cmd, check=True, capture_output=True, text=True)
        path.write_text(result.stdout)


def load(out: Path) -> dict[float, dict]:
    """The benchmark results by fraction."""
    runs = {}
    for path in sorted(out.glob("frac_*.json")):
        try:
            runs[float(path.stem.split("_", 1)[1])] = json.loads(path.read_text())["models"]
        except json.JSONDecodeError:  # a run still writing it
            print(f"skipped {path.name}: not complete", file=sys.stderr)
    if not runs:
        sys.exit(f"error: no frac_*.json in {out}: run with --run first")
    return runs


def table(runs: dict[float, dict], baseline: float | None, markdown: bool) -> list[str]:
    """One row per (model, fraction); the last column says whether both metrics stay within
    one seed spread of the baseline's means (``None``: the shipped reference run's)."""
    ref = agreement.load_reference_run()
    if baseline is None:
        base = {m: {k: {"mean": sum(s[k] for s in r.per_seed) / len(r.per_seed)}
                    for k in METRICS} for m, r in ref.models.items()}
    else:
        base = runs[baseline]
    rows = ["| model | steps | precision | coverage | Δprec / σ | Δcov / σ | within one σ |",
            "|---|---|---|---|---|---|---|"]
    for model, former in FORMER.items():
        spread = ref.models[model].spread
        for f in sorted(runs):
            m = runs[f][model]
            d = {k: (m[k]["mean"] - base[model][k]["mean"]) / spread[k] for k in METRICS}
            ok = all(abs(v) <= 1 for v in d.values())
            cells = [f"{m[k]['mean']:.4f} ± {m[k]['std']:.4f}" for k in METRICS]
            rows.append(f"| {model} | {round(former * f):,} | {cells[0]} | {cells[1]} | "
                        f"{d['precision']:+.2f} | {d['coverage']:+.2f} | "
                        f"{'baseline' if f == baseline else ('yes' if ok else 'no')} |")
    if not markdown:
        rows = [r.replace("|", " ").strip() for r in rows if not r.startswith("|---")]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--run", action="store_true", help="train and score the missing fractions")
    ap.add_argument("--fractions", default="0.25,0.5,0.75,1.0")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--baseline", default="1.0",
                    help="the fraction the others are compared with (default 1.0), or "
                         "'reference': the shipped reference run's means")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    if a.run:
        run(a.out, [float(f) for f in a.fractions.split(",")], a.jobs)
    baseline = None if a.baseline == "reference" else float(a.baseline)
    print("\n".join(table(load(a.out), baseline, a.markdown)))


if __name__ == "__main__":
    main()
