"""Multi-seed training: K seeds as one batched ensemble vs K sequential single-seed fits.

Same model, same number of updates, same machine; prints the wall times and their ratio
per model (issue 3, item 2). Example::

    python benchmarks/bench_ensemble.py --models vae,gan,rl --k 10 --steps 200 --json out.json
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from elpagen import catalogue, data
from elpagen.machine import environment


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_fit(cls, seeds, train, target, over, device) -> float:
    m = cls(seeds, device=device, **over)
    _sync(m.device)
    t0 = time.perf_counter()
    m.fit(train, target)
    _sync(m.device)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="vae,gan,rl")
    ap.add_argument("--k", type=int, default=10, help="number of seeds")
    ap.add_argument("--steps", type=int, default=200, help="updates per fit")
    ap.add_argument("--protocol", default="fast", choices=("fast", "paper"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    train = data.load_training_set()
    seeds = list(range(a.k))
    out = {"k": a.k, "steps": a.steps, "protocol": a.protocol, "environment": environment(),
           "threads": torch.get_num_threads(), "models": {}}
    for name in a.models.split(","):
        cls = catalogue.get(name).cls
        over = {"steps": a.steps, "protocol": a.protocol}
        target = None if cls.conditional else 1
        time_fit(cls, 0, train, target, {**over, "steps": 5}, a.device)  # warm-up
        t_batched = time_fit(cls, seeds, train, target, over, a.device)
        t_seq = sum(time_fit(cls, s, train, target, over, a.device) for s in seeds)
        r = {"batched_s": round(t_batched, 2), "sequential_s": round(t_seq, 2),
             "ratio": round(t_seq / t_batched, 2)}
        out["models"][name] = r
        print(f"{name}: K={a.k} batched {t_batched:.1f} s, sequential {t_seq:.1f} s, "
              f"ratio {r['ratio']:.2f}x", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
