"""One class-5 frontier unit by exact expectation against by sampling (issue 19): the CPU
and wall seconds of ``frontier.expected_sweep`` over a model's whole knob grid (what the
study's class-5 frontier does for a model with a known distribution), and of one sampled
knob value at N draws (``run_trial``, the sampled sweep's cost per value).

One thread, fast-protocol fits (``--protocol``), one seed. ``--no-sample MODEL,...`` skips
the sampled pass of a model (ar: 665 CPU s per 25 M draws, docs/benchmarks.md). Example::

    python benchmarks/bench_frontier_expected.py --models marginal,rl,ar --no-sample ar
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import torch

from elpagen import data
from elpagen import reference as reference_module
from elpagen.harness import frontier
from elpagen.harness.trial import fit, reference_scorer, run_trial


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="marginal,rl,ar")
    ap.add_argument("--no-sample", default="", help="models whose sampled pass is skipped")
    ap.add_argument("-n", "--samples", type=int, default=25_000_000)
    ap.add_argument("-c", "--target-class", type=int, default=5)
    ap.add_argument("--protocol", default="fast")
    args = ap.parse_args()
    torch.set_num_threads(1)
    c, n = args.target_class, args.samples
    train = data.load_training_set(None)
    ref, _ = reference_module.load_or_build(train)
    print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
    for m in args.models.split(","):
        t = time.perf_counter()
        gen = fit(m, train, [0], c, protocol=args.protocol, device="cpu")[0]
        print(f"{m}: fitted in {time.perf_counter() - t:.1f} s", flush=True)
        values = frontier.knob_values(gen)
        t, u = time.perf_counter(), cpu_seconds()
        points = frontier.expected_sweep(gen, m, values, c, n, ref.classes)
        if points is None:
            print(f"{m}: no known distribution", flush=True)
            continue
        print(f"{m}: expected sweep, {len(values)} knob value(s): {cpu_seconds() - u:.1f} CPU s "
              f"({time.perf_counter() - t:.1f} s wall), load {os.getloadavg()[0]:.2f}",
              flush=True)
        for p in points:
            print(f"   knob {p['knob']}: precision {p['precision']:.4f}, coverage "
                  f"{p['coverage']:.5f}, JS (N -> inf) {p['js_distance']:.4f}", flush=True)
        if m in args.no_sample.split(","):
            continue
        score = reference_scorer(ref.classes, train.codes, c)
        t, u = time.perf_counter(), cpu_seconds()
        r = run_trial(gen, m, c, n, 0, score)
        print(f"{m}: sampled, one knob value ({gen.knob_value}) at {n:,}: "
              f"{cpu_seconds() - u:.1f} CPU s ({time.perf_counter() - t:.1f} s wall), load "
              f"{os.getloadavg()[0]:.2f}; precision {r.metrics['precision']:.4f}, coverage "
              f"{r.metrics['coverage']:.5f}", flush=True)


if __name__ == "__main__":
    main()
