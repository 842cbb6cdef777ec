"""Issue 10's target on class 1: a generator trained on the training set alone (no
surrogate reward) whose point Pareto-dominates every published Table 1 point at once,
precision >= 0.83 and coverage >= 0.62 at 10,000 samples.

Recipe (docs/results.md, "The issue-10 target"): a blend of two training-set-only
generators sampled as one mixture (elpagen.generator.Mixture): the autoregressive model
with nucleus sampling and class-contrast guidance (ar settings ``top_p``, ``guidance``),
and the conditional VAE at a wide prior scale whose proposals are judged by the same ar
model's class posterior (elpagen.models.ar.Guided). Every fit uses the fast protocol;
seed s fits ar and vae with seed s and samples with the benchmark's sampling seed.

    python benchmarks/target_class1.py [--seeds 3] [--first-seed 0] [--only ...]
                                       [--cache-dir DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import numpy as np

from elpagen import api, metrics, threads
from elpagen.generator import Mixture, sample_seed
from elpagen.harness.trial import fit as fit_generators
from elpagen.models.ar import Guided

N = 10_000
TARGET = (0.83, 0.62)
#: (ar top_p, ar guidance, vae prior scale, guidance of the vae by ar (0: none), ar share)
GRID = [
    *itertools.product([0.9], [0.5, 2.0], [0.75, 0.9], [0.0], [0.6]),  # unguided vae
    *itertools.product([0.9], [2.0], [1.0, 1.1, 1.25], [1.0, 2.0], [0.5]),
    *itertools.product([0.9], [0.5], [1.0, 1.1, 1.25], [2.0, 4.0], [0.5]),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0,
                    help="seeds first-seed ... first-seed+seeds-1 (fresh seeds confirm a "
                         "configuration chosen on seeds 0-2)")
    ap.add_argument("--only", metavar="TOP_P,GUIDANCE,SCALE,VAE_GUIDANCE,SHARE",
                    help="run one configuration instead of the grid")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    threads.configure(1)
    train = api.load_training_set()
    ref = api.reference_energies(train, cache_dir=args.cache_dir)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    grid = [tuple(float(v) for v in args.only.split(","))] if args.only else GRID
    t0 = time.perf_counter()
    ar = fit_generators("ar", train, seeds, 1)
    vae = fit_generators("vae", train, seeds, 1)
    print(f"fitted ar and vae for seeds {seeds} in {time.perf_counter() - t0:.0f} s")
    rows = []
    for top_p, w, scale, wv, share in grid:
        per_seed = []
        for s, a, v in zip(seeds, ar, vae, strict=True):
            v = v.with_knob(scale)
            if wv:
                v = Guided(v, a, wv)  # judged by the plain (unguided, T = 1) ar fit
            a = a.with_sampling(top_p=top_p, guidance=w)
            blend = Mixture([a, v], weights=[share, 1 - share])
            codes = blend.sample(N, 1, seed=sample_seed(s)).codes
            per_seed.append((metrics.precision(codes, 1, ref.classes),
                             metrics.coverage(codes, 1, ref.classes)))
        p, c = np.array(per_seed).T
        hit = p.mean() >= TARGET[0] and c.mean() >= TARGET[1]
        rows.append({"top_p": top_p, "guidance": w, "vae_prior_scale": scale,
                     "vae_guidance": wv,
                     "ar_share": share, "precision": _ms(p), "coverage": _ms(c),
                     "per_seed": per_seed, "dominates_published": bool(hit)})
        print(f"ar top_p={top_p} guidance={w} ({share:.0%}) + vae s={scale} "
              f"guided by ar w={wv}: "
              f"precision {p.mean():.3f} ± {p.std():.3f}, coverage {c.mean():.3f} ± "
              f"{c.std():.3f}{'  <- target reached' if hit else ''}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"samples": N, "seeds": seeds, "target": TARGET, "rows": rows}, f,
                      indent=1)


def _ms(x: np.ndarray) -> dict[str, float]:
    return {"mean": float(x.mean()), "std": float(x.std())}


if __name__ == "__main__":
    main()
