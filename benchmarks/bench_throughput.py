"""Throughput of sampling and of scoring at the class-5 scale (issue 19): samples/s of
``gen.sample(N, c)`` and of ``metrics.evaluate`` on them, per model, against the
memory-bandwidth bound of the scoring pass.

The fits are deliberately short (``--steps``): fit quality does not change the cost of a
draw, only the valid fraction (and so how many proposals a valid sample costs). The
bandwidth is measured here with a numpy copy of a 1 GB array (read + write = 2 GB
moved); the scoring bound is that bandwidth over the bytes ``evaluate`` must stream per
sample (4: one read of the int32 codes) and over the bytes its current path streams
(see ``BYTES_STREAMED``). Wall and CPU seconds are both printed: on a shared machine the
CPU seconds are the steadier figure. Example::

    python benchmarks/bench_throughput.py -n 25000000 --json throughput.json
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch

from elpagen import data, metrics
from elpagen import reference as reference_module
from elpagen.harness.trial import fit as fit_generators
from elpagen.machine import environment

#: Bytes per sample that ``metrics.evaluate`` streams today: codes.min and codes.max
#: (4 + 4, int32), bincount's int32 -> intp conversion (4 read + 8 written), its range
#: check and its counting pass over the intp copy (8 + 8); the count updates themselves are
#: scattered into a 1,974,024-entry int64 table (16 MB) and not counted.
BYTES_STREAMED = 36
#: The least any scoring pass must stream: one read of each int32 code.
BYTES_MINIMUM = 4


def bandwidth(gb: float = 1.0, repeats: int = 5) -> float:
    """Best-of copy bandwidth in bytes/s (bytes read + bytes written)."""
    a = np.ones(int(gb * 2**30) // 8)
    b = np.empty_like(a)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t)
    return 2 * a.nbytes / best


def timed(fn, *args, **kwargs):
    """fn(*args, **kwargs), its wall seconds and its CPU seconds (this process)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="marginal,random,vae,gan,ar,rl,surrogate")
    ap.add_argument("-n", type=int, default=25_000_000)
    ap.add_argument("--target-class", type=int, default=5)
    ap.add_argument("--steps", type=int, default=50, help="training steps of the torch models")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    bw = bandwidth()
    print(f"copy bandwidth {bw / 1e9:.2f} GB/s; scoring bound {bw / BYTES_MINIMUM / 1e6:,.0f} "
          f"M samples/s at {BYTES_MINIMUM} B/sample, {bw / BYTES_STREAMED / 1e6:,.0f} M/s at "
          f"{BYTES_STREAMED} B/sample", flush=True)
    train = data.load_training_set()
    ref, _ = reference_module.load_or_build(train)
    out = {"n": a.n, "target_class": a.target_class, "threads": a.threads,
           "bandwidth_gb_s": bw / 1e9, "environment": environment(), "models": {}}
    for name in a.models.split(","):
        over = {"steps": a.steps} if name in ("vae", "gan", "rl", "ar", "gfn") else None
        (g,), t_fit, _ = timed(fit_generators, name, train, [0], a.target_class,
                               overrides=over, device="cpu")
        s, w_s, c_s = timed(g.sample, a.n, a.target_class, seed=1)
        m, w_e, c_e = timed(metrics.evaluate, s.codes, a.target_class, ref.classes,
                            train.codes, s.n_drawn)
        r = {"fit_s": t_fit, "sample_wall_s": w_s, "sample_cpu_s": c_s,
             "evaluate_wall_s": w_e, "evaluate_cpu_s": c_e, "n_drawn": s.n_drawn,
             "valid_fraction": m["valid_fraction"],
             "sample_per_s": a.n / w_s, "evaluate_per_s": a.n / w_e,
             "evaluate_vs_bound": (a.n / w_e) / (bw / BYTES_MINIMUM),
             "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
        out["models"][name] = r
        s = None  # free the codes before the next model
        print(f"{name}: sample {w_s:.1f} s wall ({c_s:.1f} s CPU) = {a.n / w_s / 1e6:.2f} M/s; "
              f"evaluate {w_e:.2f} s wall ({c_e:.2f} s CPU) = {a.n / w_e / 1e6:.0f} M/s "
              f"({r['evaluate_vs_bound']:.1%} of the 4 B/sample bound); valid fraction "
              f"{m['valid_fraction']:.3f}; peak RSS {r['peak_rss_gb']:.2f} GB", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
