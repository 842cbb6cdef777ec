"""Benchmark of ``marginal+kernel``'s per-round scoring (issue 28 item 2): the study's
campaign unit (``elpagen study --protocol fast``: start 1,000, batch 500, budget 10,000,
pool 100,000, label noise 0.076) run with the scoring of today's code and with the old
dense one (the kernel refit from scratch each round: the labels' kernel matrix, a dense
``np.linalg.solve`` and the kernel between the 100,000 candidates and every label), paired
on the same machine, with the found curve of each.

    python benchmarks/bench_marginal_kernel.py [--classes 1,10] [--seeds 0,1,2]
        [--which new,old] [--profile] [--json out.json]
    python benchmarks/bench_marginal_kernel.py --summary old.json,new.json

``--summary`` prints, per file and class, the study's campaign summary over the seeds
(labels to 50 % and 90 % of the class, found at 2,000, 5,000 and 10,000 labels, AUC,
seconds: mean and sd) and whether each seed's curve is the same in every file.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import time

import numpy as np

from elpagen import data, reference
from elpagen.campaign import run
from elpagen.campaign.base import onehot
from elpagen.campaign.scoring import MarginalKernelStrategy
from elpagen.study import campaign_unit
from elpagen.study.plan import FULL, Experiment, Unit


class DenseKernelStrategy(MarginalKernelStrategy):
    """``marginal+kernel`` as it was before issue 28: the dual refit from scratch."""

    def score(self, labelled_codes, labelled_energies, pool):
        space = self.the_space()
        norm = 1.0 + space.n_sites
        y = np.asarray(labelled_energies, dtype=np.float64)
        x = onehot(labelled_codes, space)
        k = (((1.0 + x @ x.T) / norm) ** 2).astype(np.float64)
        k[np.diag_indices_from(k)] += self.alpha
        a = np.linalg.solve(k, y - y.mean()).astype(np.float32)
        out = np.empty(len(pool), dtype=np.float32)
        for i in range(0, len(pool), 8192):
            out[i:i + 8192] = (((1.0 + onehot(pool[i:i + 8192], space) @ x.T) / norm) ** 2) @ a
        return self.key(out + y.mean())


def run_unit(cls, train, ref, target_class: int, seed: int) -> dict:
    """One study campaign unit of ``marginal+kernel`` (its name: the same random streams)
    scored by ``cls``; as :func:`elpagen.study.campaign_unit.compute_campaign_unit`."""
    camp = campaign_unit.campaign_settings(FULL, False, ["marginal+kernel"], train.space)
    unit = Unit(Experiment.CAMPAIGN, "marginal+kernel", target_class, 0, seed,
                int(camp["budget"]))
    config = campaign_unit.campaign_config(unit, camp, False).check(train)
    codes = campaign_unit.all_codes(train.space)
    start = run.start_codes(config.start, train, seed, codes)
    t0 = time.perf_counter()
    r = run.run_one("marginal+kernel", cls, ref.energies, ref.classes, train, config, seed,
                    start, codes)
    return {"seconds": round(time.perf_counter() - t0, 2), "labels": r["labels"],
            "found": r["found"]}


def fmt(v: dict | None) -> str:
    return "-" if v is None else f"{v['mean']:.0f} ± {v['std']:.0f}"


def summary(files: list[str], class_sizes: dict[int, int]) -> None:
    """The campaign summary of each file's units (see the module's docstring)."""
    loaded = {f: json.load(open(f)) for f in files}
    for c in sorted({r["class"] for rows in loaded.values() for r in rows}):
        curves = {}
        for f, rows in loaded.items():
            runs = [dict(r[w], seed=r["seed"]) for r in rows if r["class"] == c for w in r
                    if w in ("new", "old")]
            st = run.summarise(runs, class_sizes[c], 10_000)
            print(f"class {c} {f} ({len(runs)} seeds): to 50% {fmt(st['labels_to_50'])}, "
                  f"to 90% {fmt(st['labels_to_90'])}, found at 2,000/5,000/10,000 "
                  + " / ".join(fmt(st["found_at"][k]) for k in ("2000", "5000", "10000"))
                  + f", AUC {st['auc']['mean']:.3f} ± {st['auc']['std']:.3f}, "
                  f"s {fmt(st['seconds'])}")
            for r in runs:
                curves.setdefault(r["seed"], []).append(r["found"])
        for seed, cs in sorted(curves.items()):
            same = all(x == cs[0] for x in cs)
            print(f"  seed {seed}: curves the same in every file: {same}"
                  + ("" if same else f" (found {[x[-1] for x in cs]}; per round "
                     f"{(np.array(cs[-1]) - np.array(cs[0])).tolist()})"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--classes", default="1,10")
    p.add_argument("--seeds", default="0")
    p.add_argument("--which", default="new,old", help="new (today's scoring), old (dense)")
    p.add_argument("--profile", action="store_true", help="cProfile each unit (top 15)")
    p.add_argument("--json", default=None)
    p.add_argument("--summary", default=None, help="comma-separated --json files: no runs")
    args = p.parse_args()
    train = data.load_training_set(None)
    ref, _ = reference.load_or_build(train, progress=False)
    if args.summary:
        sizes = {c: int((ref.classes == c).sum()) for c in (1, 10)}
        return summary(args.summary.split(","), sizes)
    kinds = {"new": MarginalKernelStrategy, "old": DenseKernelStrategy}
    rows = []
    for c in (int(x) for x in args.classes.split(",")):
        for s in (int(x) for x in args.seeds.split(",")):
            got = {}
            for w in args.which.split(","):
                prof = cProfile.Profile() if args.profile else None
                if prof:
                    prof.enable()
                got[w] = run_unit(kinds[w], train, ref, c, s)
                if prof:
                    prof.disable()
                    pstats.Stats(prof).sort_stats("cumulative").print_stats(15)
                print(f"class {c} seed {s} {w}: {got[w]['seconds']:.1f} s, found "
                      f"{got[w]['found'][-1]} (load {os.getloadavg()[0]:.2f})", flush=True)
            if len(got) == 2:
                same = got["new"]["found"] == got["old"]["found"]
                diff = (np.array(got["new"]["found"]) - np.array(got["old"]["found"])).tolist()
                print(f"  curves identical: {same}" + ("" if same else f" (new - old {diff})"))
            rows.append({"class": c, "seed": s, **got})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
