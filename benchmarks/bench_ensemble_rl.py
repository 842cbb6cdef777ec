"""Benchmark of the RL agent: K seeds as one batched ensemble vs K single fits, and the
cost of sampling with the tabulated policy.

Reports the wall time of one batched fit of K seeds, of K sequential single-seed fits with
the same number of steps (and their ratio), the time to build one member's policy table and
the time to draw ``--samples`` valid compositions from it. Example::

    python benchmarks/bench_ensemble_rl.py --k 10 --steps 500 --json bench_rl.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from elpagen import data
from elpagen.models.dqn import DQNAgent


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=10, help="number of seeds")
    ap.add_argument("--steps", type=int, default=500, help="training updates per fit")
    ap.add_argument("--protocol", default="fast", choices=sorted(DQNAgent.PROTOCOLS))
    ap.add_argument("--hidden", default=None, help="override the hidden layers, e.g. 64,64")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--target-class", type=int, default=1)
    ap.add_argument("--samples", type=int, default=25_000_000, help="samples to draw (0: skip)")
    ap.add_argument("--data", default=None, help="DFT CSV (default: $ELPAGEN_DATA)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    train = data.load_training_set(a.data)
    over = {"steps": a.steps}
    if a.hidden:
        over["hidden"] = a.hidden
    if a.batch_size:
        over["batch_size"] = a.batch_size
    seeds = list(range(a.k))
    c = a.target_class

    def fit(s) -> tuple[DQNAgent, float]:
        m = DQNAgent(s, protocol=a.protocol, device=a.device, **over)
        _sync(m.device)
        t0 = time.perf_counter()
        m.fit(train, c)
        _sync(m.device)
        return m, time.perf_counter() - t0

    fit(0)  # warm-up: imports, allocator, kernels
    batched, t_batched = fit(seeds)
    t_seq = sum(fit(s)[1] for s in seeds)
    res = {
        "model": "rl",
        "device": str(batched.device),
        "device_name": torch.cuda.get_device_name(batched.device)
        if batched.device.type == "cuda" else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "k": a.k,
        "steps": a.steps,
        "config": {k: v for k, v in batched.config.__dict__.items()},
        "batched_s": t_batched,
        "sequential_s": t_seq,
        "speedup": t_seq / t_batched,
    }
    if a.samples > 0:
        m = batched.member(0)
        t0 = time.perf_counter()
        tab = m.policy_table()
        res["table_s"] = time.perf_counter() - t0
        res["table_states"] = int(sum(tab.level_sizes))
        t0 = time.perf_counter()
        s = m.sample(a.samples, c, seed=1)
        res["sample_s"] = time.perf_counter() - t0
        res["samples"] = a.samples
        res["samples_invalid"] = s.n_invalid
    print(json.dumps(res, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
