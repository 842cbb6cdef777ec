"""Benchmark of the WGAN-GP: K seeds as one batched ensemble vs K single fits, and sampling.

Reports the wall time of one batched fit of K seeds, of K sequential single-seed fits with
the same number of generator updates (and their ratio), and the time to draw ``--samples``
valid class-1 compositions from member 0. Example::

    python benchmarks/bench_ensemble_gan.py --k 10 --steps 500 --json bench_gan.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from elpagen import data
from elpagen.models.gan import ConditionalWGAN


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=10, help="number of seeds")
    ap.add_argument("--steps", type=int, default=500, help="generator updates per fit")
    ap.add_argument("--protocol", default="fast", choices=sorted(ConditionalWGAN.PROTOCOLS))
    ap.add_argument("--hidden", default=None, help="override the hidden layers, e.g. 128")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--samples", type=int, default=100_000, help="samples to draw (0: skip)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    train = data.load_training_set()
    over: dict[str, object] = {"steps": a.steps}
    if a.hidden:
        over["hidden"] = a.hidden
    if a.batch_size:
        over["batch_size"] = a.batch_size
    seeds = list(range(a.k))

    def fit(s) -> tuple[ConditionalWGAN, float]:
        m = ConditionalWGAN(s, protocol=a.protocol, device=a.device, **over)
        _sync(m.device)
        t0 = time.perf_counter()
        m.fit(train)
        _sync(m.device)
        return m, time.perf_counter() - t0

    fit(0)  # warm-up: imports, allocator, kernels
    batched, t_batched = fit(seeds)
    t_seq = sum(fit(s)[1] for s in seeds)
    res = {
        "model": "gan",
        "device": str(batched.device),
        "device_name": torch.cuda.get_device_name(batched.device)
        if batched.device.type == "cuda"
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "k": a.k,
        "steps": a.steps,
        "config": dict(batched.config.__dict__),
        "batched_s": t_batched,
        "sequential_s": t_seq,
        "speedup": t_seq / t_batched,
        "ms_per_generator_step_batched": 1e3 * t_batched / a.steps,
    }
    if a.samples > 0:
        m = batched.member(0)
        t0 = time.perf_counter()
        s = m.sample(a.samples, 1, seed=1)
        _sync(m.device)
        res["sample_s"] = time.perf_counter() - t0
        res["samples"] = a.samples
        res["samples_invalid"] = s.n_invalid
    print(json.dumps(res, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
