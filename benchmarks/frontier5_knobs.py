"""Which knob values vae's and gan's class-5 frontier can drop with its front kept (issue 28).

Reads a study's results (no sampling): ``docs/results/study/results.json`` by default (the
published fast study: per knob value the mean and std of precision and coverage over 3
seeds, and the per-seed hypervolumes), or a study directory (``DIR/study.sqlite``: every
seed's own points). For each model and every subset of 3, 4 and 5 of its 7 knob values
(the fitted value 1.0 always in, as ``frontier.knob_values`` adds it) it prints the
hypervolume (``metrics.hypervolume``, area under the precision-coverage front against
(0, 0)) of the subset against the full grid: of the mean front, of the fronts one std below
and above it (a check that the choice holds under the seed spread), and per seed where the
seeds' points are stored; whether the subset keeps the full front's extreme points (its
best precision and its best coverage); the best subsets of each size, and the best
that keeps those extremes. The subset the
study uses (the model class's ``knob_grid_reduced``) is marked ``*``. A store swept at the reduced
grid compares subsets of the values it holds. Example::

    python benchmarks/frontier5_knobs.py                 # the published study
    python benchmarks/frontier5_knobs.py elpagen-study-fast --top 3
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from elpagen import catalogue
from elpagen.harness.frontier import non_dominated
from elpagen.metrics import hypervolume

MODELS = ("vae", "gan")
DEFAULT = Path(__file__).resolve().parents[1] / "docs/results/study/results.json"
Points = Mapping[float, tuple[float, float]]  # knob value -> (precision, coverage)


def from_results(path: Path) -> dict[str, dict[str, list[Points]]]:
    """Per model: the mean front, and the fronts at mean - std and mean + std."""
    models = json.loads(path.read_text())["frontier"]["class5"]["models"]
    out = {}
    for m in MODELS:
        pts = models[m]["points"]
        fronts = {}
        for name, sign in (("mean", 0), ("mean-std", -1), ("mean+std", 1)):
            fronts[name] = [{p["knob"]: tuple(p[k]["mean"] + sign * p[k]["std"]
                                              for k in ("precision", "coverage"))
                             for p in pts}]
        fronts["per seed (stored hv)"] = models[m]["hypervolume"]["per_seed"]
        out[m] = fronts
    return out


def from_store(directory: Path) -> dict[str, dict[str, list[Points]]]:
    """Per model: every seed's own class-5 frontier points (and their mean front)."""
    from elpagen.study.store import Store

    with Store.open_readonly(directory) as s:
        units = [u for u in s.units("frontier")
                 if u["target_class"] == 5 and u["status"] == "ok" and u["model"] in MODELS]
    out: dict[str, dict[str, list[Points]]] = {}
    for m in MODELS:
        seeds = [{p["knob"]: (p["precision"], p["coverage"]) for p in u["payload"]["points"]}
                 for u in units if u["model"] == m]
        if not seeds:
            continue
        common = sorted(set.intersection(*(set(s) for s in seeds)))
        mean = {k: tuple(np.mean([s[k] for s in seeds], axis=0)) for k in common}
        out[m] = {"mean": [mean], "per seed": seeds}
    return out


def extremes(points: Points) -> set[float]:
    """The knob values of the front's best precision and best coverage."""
    return {max(points, key=lambda k: points[k][0]), max(points, key=lambda k: points[k][1])}


def ratio(points: Points, subset: Sequence[float]) -> float:
    return hypervolume([points[k] for k in subset]) / hypervolume(points.values())


def report(model: str, fronts: Mapping[str, list], top: int) -> None:
    mean = fronts["mean"][0]
    knobs = sorted(mean)
    chosen = tuple(sorted(getattr(catalogue.get(model).cls, "knob_grid_reduced", knobs)))
    ext = extremes(mean)
    hv = hypervolume(mean.values())
    front = [knobs[i] for i in non_dominated([mean[k] for k in knobs])]
    print(f"\n{model}: {len(knobs)} knob values {knobs}; mean front {front}, "
          f"extremes {sorted(ext)}; hypervolume of the mean front {hv:.4g}")
    if "per seed (stored hv)" in fronts:
        ps = fronts["per seed (stored hv)"]
        print(f"  per-seed hypervolumes (stored, all values): "
              f"{', '.join(f'{v:.4f}' for v in ps)}; mean {np.mean(ps):.4f}, "
              f"std {np.std(ps, ddof=1):.4f} ({100 * np.std(ps, ddof=1) / np.mean(ps):.1f} %)")
    seeds = fronts.get("per seed", [])
    envelopes = [k for k in ("mean-std", "mean+std") if k in fronts]
    head = "  values                                  n  keeps  mean-front hv   change"
    head += "".join(f"  {e:>9}" for e in envelopes)
    head += "".join(f"  seed {i:<4}" for i in range(len(seeds)))
    print(head)
    rows = []
    for r in range(3, len(knobs) + 1):
        cands = [tuple(sorted((*c, 1.0))) for c in
                 itertools.combinations([k for k in knobs if k != 1.0], r - 1)]
        ranked = sorted(cands, key=lambda c: -ratio(mean, c))
        keeping = [c for c in ranked if ext <= set(c)][:1]  # the best with the extremes
        shown = [*ranked[:top], *keeping, *([chosen] if chosen in cands else [])]
        rows += list(dict.fromkeys(shown))
    for c in rows:
        keeps = "yes" if ext <= set(c) else "no"
        line = (f"{'*' if c == chosen else ' '} {str(list(c)):38} {len(c)}  {keeps:5}  "
                f"{hypervolume([mean[k] for k in c]):<13.4g} "
                f"{100 * (ratio(mean, c) - 1):+6.2f} %")
        line += "".join(f"  {100 * (ratio(fronts[e][0], c) - 1):+7.2f} %" for e in envelopes)
        line += "".join(f"  {100 * (ratio(s, c) - 1):+7.2f} %" for s in seeds)
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", nargs="?", default=str(DEFAULT),
                    help="a study's results.json or its directory (default: the published one)")
    ap.add_argument("--top", type=int, default=2, help="best subsets shown per size")
    args = ap.parse_args()
    src = Path(args.source)
    data = from_store(src) if src.is_dir() else from_results(src)
    print(f"class-5 frontier hypervolume, subset of knob values against all ({src}); "
          "* the study's (knob_grid_reduced)")
    for m, fronts in data.items():
        report(m, fronts, args.top)


if __name__ == "__main__":
    main()
