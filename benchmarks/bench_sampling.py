"""Sampling plus metrics at the scale of the class-5 experiment (25 M valid samples).

For each model: fit one seed (fast protocol unless --steps overrides), then time drawing
N valid samples for a class and scoring them with every metric. Example::

    python benchmarks/bench_sampling.py --models vae,gan,rl,marginal,random -n 25000000
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from elpagen import data, metrics
from elpagen import reference as reference_module
from elpagen.harness.trial import fit as fit_generators
from elpagen.machine import environment


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="vae,gan,rl,marginal,random")
    ap.add_argument("-n", type=int, default=25_000_000)
    ap.add_argument("--target-class", type=int, default=5)
    ap.add_argument("--steps", type=int, default=None, help="override training steps")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    train = data.load_training_set()
    ref, _ = reference_module.load_or_build(train)
    out = {"n": a.n, "target_class": a.target_class, "environment": environment(),
           "threads": torch.get_num_threads(), "models": {}}
    for name in a.models.split(","):
        over = {"steps": a.steps} if a.steps and name in ("vae", "gan", "rl") else None
        t0 = time.perf_counter()
        (g,) = fit_generators(name, train, [0], a.target_class, overrides=over, device="cpu")
        t_fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        s = g.sample(a.n, a.target_class, seed=1)
        t_sample = time.perf_counter() - t0
        t0 = time.perf_counter()
        m = metrics.evaluate(s.codes, a.target_class, ref.classes, train.codes, s.n_drawn)
        metrics.discovery_curve(s.codes, ref.classes, train.codes)
        t_eval = time.perf_counter() - t0
        del s
        r = {"fit_s": round(t_fit, 1), "sample_s": round(t_sample, 1),
             "metrics_s": round(t_eval, 1), "total_s": round(t_sample + t_eval, 1),
             "valid_fraction": m["valid_fraction"], "precision": m["precision"],
             "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}
        out["models"][name] = r
        print(f"{name}: sample {t_sample:.1f} s + metrics {t_eval:.1f} s for {a.n:,} valid "
              f"(valid fraction {m['valid_fraction']:.3f}), peak RSS {r['peak_rss_gb']} GB",
              flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
