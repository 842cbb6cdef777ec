"""Where a study's time went: fit and unit seconds per experiment and model, from its store.

    python benchmarks/study_times.py STUDY_DIR [--markdown]

Reads the study's store with ``Store.open_readonly`` (a running study can be read).
Fit seconds are each ensemble's training time (one fit key = all seeds of one model on one
training set); unit seconds are a unit's sampling and scoring on its worker (its fit
excluded). Both are wall seconds of a one-thread process, so on a machine with a core per
worker they are close to CPU seconds; their sum over the number of workers is the best
wall time a schedule could reach. The runs' wall time is what the study really took.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

from elpagen.study.store import Store, StoreError


def read(study: Path) -> dict:
    """Fit seconds per model, unit seconds per (experiment, model), statuses and runs."""
    try:
        store = Store.open_readonly(study)  # read-only: a running study can be read
    except StoreError as e:
        sys.exit(f"error: {e}")
    with store:
        # One row per seed; the seeds of a fit key share one ensemble and its seconds.
        ensembles = {key.rpartition("/")[0]: (p["model"], float(p["ensemble_seconds"]))
                     for key, p in store.fits().items()}
        fits: dict[str, list[float]] = collections.defaultdict(list)
        for model, seconds in ensembles.values():
            fits[model].append(seconds)
        units: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
        status: collections.Counter = collections.Counter()
        for u in store.units():
            units[(u["experiment"], u["model"])].append(float(u["seconds"]))
            status[u["status"]] += 1
        return {"fits": fits, "units": units, "status": status, "runs": store.runs()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("--markdown", action="store_true", help="tables as Markdown")
    a = ap.parse_args()
    r = read(a.study)
    sep = " | " if a.markdown else "  "

    def row(*cells: object) -> None:
        line = sep.join(str(c) for c in cells)
        print(f"| {line} |" if a.markdown else line)

    # Fit keys are shared by experiments (the full set by class1, curve1, frontier, class5;
    # subsets by size), so fits are listed on their own, per model.
    row("model", "fit keys", "fit seconds (sum)", "per fit key")
    if a.markdown:
        row(*["---"] * 4)
    total_fit = 0.0
    for model, secs in sorted(r["fits"].items(), key=lambda kv: -sum(kv[1])):
        total_fit += sum(secs)
        row(model, len(secs), f"{sum(secs):.0f}", f"{sum(secs) / len(secs):.0f}")
    print()
    by_exp: dict[str, dict[str, list[float]]] = collections.defaultdict(dict)
    for (exp, model), secs in r["units"].items():
        by_exp[exp][model] = secs
    row("experiment", "units", "unit seconds (sum)", "largest models (seconds)")
    if a.markdown:
        row(*["---"] * 4)
    total_units = 0.0
    for exp, models in sorted(by_exp.items(), key=lambda kv: -sum(map(sum, kv[1].values()))):
        n = sum(len(s) for s in models.values())
        tot = sum(sum(s) for s in models.values())
        total_units += tot
        top = sorted(models.items(), key=lambda kv: -sum(kv[1]))[:3]
        row(exp, n, f"{tot:.0f}", ", ".join(f"{m} {sum(s):.0f}" for m, s in top))
    print()
    print(f"fits {total_fit / 60:.1f} min + units {total_units / 60:.1f} min = "
          f"{(total_fit + total_units) / 60:.1f} worker minutes; unit status: "
          + ", ".join(f"{k} {v}" for k, v in sorted(r["status"].items())))
    for run in r["runs"]:
        print(f"run {run['started']} -> {run['finished'] or 'not finished'}: "
              f"{run.get('status')}, {run.get('new_units')} new units, "
              f"{(run.get('seconds') or 0) / 60:.1f} min wall")


if __name__ == "__main__":
    main()
