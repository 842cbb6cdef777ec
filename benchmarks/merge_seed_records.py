"""Merge one-seed benchmark records of one model into a row (issue 28: the paper-protocol
GAN, fitted one seed per process, across sessions and machines).

    python benchmarks/merge_seed_records.py \
        docs/results/benchmark_class1_gan_paper_seed0_cpu.json runs/seed1/benchmark_class1.json \
        ... -o docs/results/benchmark_class1_gan_paper_5seeds_cpu.json

Every record must be ``elpagen benchmark -o DIR`` output for the same model, class, samples,
protocol, space and reference energies (the oracle's settings); seeds must differ. The merged
record keeps each seed's metrics and machine, aggregates them like the benchmark does (mean,
sd with ddof 1), and aggregates an expectation (e.g. the rarefied coverage) over the seeds
that carry it, saying how many. Prints the markdown row of docs/results.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from elpagen import metrics

#: Record fields that must agree between the merged records.
SAME = ("target_class", "samples", "protocol", "mixture", "class_size", "oracle")
COLUMNS = ("precision", "precision_neighbor", "coverage", "coverage_neighbor", "js_distance")


def _rounded(v: object) -> object:
    if isinstance(v, float):
        return float(f"{v:.10g}")
    return {k: _rounded(x) for k, x in v.items()} if isinstance(v, dict) else v


def merge(records: list[dict]) -> dict:
    """One record of every seed of ``records`` (each a one-model benchmark result)."""
    first = records[0]
    names = {name for r in records for name in r["models"]}
    if len(names) != 1:
        raise SystemExit(f"error: the records hold models {sorted(names)}; merge one model")
    (name,) = names
    for key in SAME:  # floats to 10 digits: the reference's held-out error differs by the CPU
        values = {json.dumps(_rounded(r.get(key)), sort_keys=True) for r in records}
        if len(values) > 1:
            raise SystemExit(f"error: the records differ in {key!r}: {sorted(values)}")
    per_seed = [row for r in records for row in r["models"][name]["per_seed"]]
    seeds = [row["seed"] for row in per_seed]
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"error: a seed appears twice: {seeds}")
    agg = metrics.aggregate(per_seed)
    model = {k: v for k, v in agg.items() if not k.startswith("expected_") and k != "seed"}
    with_exp = [row for row in per_seed if any(k.startswith("expected_") for k in row)]
    if with_exp:  # an expectation that only some seeds carry: over those, said so
        exp = metrics.aggregate(with_exp)
        model["expected"] = {k.removeprefix("expected_"): v for k, v in exp.items()
                             if k.startswith("expected_")}
        model["expected_seeds"] = [row["seed"] for row in with_exp]
        labels = {json.dumps(r["models"][name].get("expected_estimate"), sort_keys=True)
                  for r in records if r["models"][name].get("expected_estimate")}
        model["expected_estimate"] = [json.loads(s) for s in sorted(labels)]
    model["fit_seconds"] = [r["models"][name]["fit_seconds"] for r in records]
    model["per_seed"] = per_seed
    out = {k: first.get(k) for k in SAME}
    out.update(seeds=len(seeds), seed_values=seeds, ideal_coverage=first.get("ideal_coverage"),
               environments=[r.get("environment") for r in records], models={name: model})
    return out


def row(record: dict) -> str:
    """The markdown row: mean ± sd per metric, then the expected coverage where it exists."""
    (name, m), = record["models"].items()
    cells = [f"{m[c]['mean']:.4f} ± {m[c]['std']:.4f}" for c in COLUMNS]
    exp = m.get("expected", {}).get("coverage")
    if exp:
        cells.append(f"{exp['mean']:.4f} ± {exp['std']:.4f} (seeds {m['expected_seeds']})")
    return (f"| {name}, {record['protocol']} protocol | {record['seeds']} | "
            + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("records", nargs="+", type=Path, help="one-seed benchmark JSON records")
    p.add_argument("-o", "--output", type=Path, help="write the merged record here")
    a = p.parse_args(argv)
    records = [json.loads(path.read_text()) for path in a.records]
    merged = merge(records)
    if a.output:
        if a.output.exists():
            raise SystemExit(f"error: {a.output} exists; remove it first")
        a.output.write_text(json.dumps(merged, indent=1) + "\n")
    print(row(merged))
    return 0


if __name__ == "__main__":
    sys.exit(main())
