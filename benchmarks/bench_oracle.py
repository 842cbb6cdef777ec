"""Benchmark of the full-space reference energies (elpagen.reference).

Measures
  (a) the build from scratch (holdout fit, full fit, separable grid; per stage), the
      cache save and load, and with --cv the cross-validation search;
  (b) naive chunked direct kernel evaluation on a slice of compositions, extrapolated
      to the whole space, against the exact separable grid evaluation.

    python benchmarks/bench_oracle.py [--data PATH] [--cv] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from elpagen import data
from elpagen import reference as reference_module


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def floats(s: str) -> list[float]:
    return [float(x) for x in s.split(",") if x]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", default=None, help=f"DFT CSV (default: ${data.ENV_VAR})")
    p.add_argument("--sigma", type=float, default=reference_module.DEFAULT_SIGMA)
    p.add_argument("--lam", type=float, default=reference_module.DEFAULT_LAMBDA)
    p.add_argument("--naive-n", type=int, default=50_000,
                   help="compositions in the direct-evaluation slice")
    p.add_argument("--chunk", type=int, default=1024, help="rows per direct-evaluation block")
    p.add_argument("--cv", action="store_true", help="also time the cross-validation search")
    p.add_argument("--sigmas", type=floats, default=[12.0, 24.0, 48.0])
    p.add_argument("--lambdas", type=floats, default=[1e-2, 1e-3, 1e-4])
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--skip-build", action="store_true", help="only the --cv search")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    args = p.parse_args()

    train = data.load_training_set(args.data)
    res: dict = {
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_name(),
                    "torch_threads": torch.get_num_threads(), "load_avg": os.getloadavg()},
        "n_train": len(train),
        "sigma": args.sigma,
        "lambda": args.lam,
    }
    print(f"{len(train)} training compositions; {res['machine']}")

    if not args.skip_build:
        # (a) build from scratch, then the cache round trip in a throwaway directory.
        with tempfile.TemporaryDirectory() as d:
            # What load_or_build(rebuild=True) does, keeping the model for part (b).
            t = time.perf_counter()
            ref, model = reference_module.build_with_model(train, args.sigma, args.lam,
                                                           progress=True)
            path = reference_module.cache_path(train, args.sigma, args.lam, Path(d))
            reference_module.save(ref, path, reference_module.training_fingerprint(train))
            build_s = time.perf_counter() - t
            reference_module.valid_mask.cache_clear()  # time a cold load, as in a fresh process
            t = time.perf_counter()
            ref2, loaded = reference_module.load_or_build(train, args.sigma, args.lam, cache_dir=d)
            load_s = time.perf_counter() - t
            assert loaded and np.array_equal(ref2.classes, ref.classes)
            size = path.stat().st_size
        res["build"] = {"seconds_total_with_save": build_s, "seconds_build": ref.seconds,
                        "stages": ref.stages, "holdout_mae": ref.holdout_mae,
                        "class_sizes": ref.class_sizes().tolist(),
                        "cache_load_seconds": load_s, "cache_mib": size / 2**20}
        print(f"build {ref.seconds:.1f} s (with cache save: {build_s:.1f} s); stages "
              + ", ".join(f"{k} {v:.1f}" for k, v in ref.stages.items()))
        print(f"holdout MAE {ref.holdout_mae:.4f} eV/atom; cache load {load_s:.3f} s "
              f"({size / 2**20:.1f} MiB)")
        print("class sizes:", ref.class_sizes().tolist())

        # (b) naive direct evaluation on a slice vs the separable grid.
        rng = np.random.default_rng(0)
        codes = rng.choice(train.space.all_codes(), args.naive_n, replace=False)
        t = time.perf_counter()
        direct = model.predict(codes, chunk=args.chunk)
        naive_s = time.perf_counter() - t
        t = time.perf_counter()
        grid = model.predict_grid()
        sep_s = time.perf_counter() - t
        naive_full = naive_s * train.space.n_space / args.naive_n
        diff = float(np.max(np.abs(grid[codes] - direct)))
        res["naive_vs_separable"] = {
            "slice": args.naive_n, "naive_slice_seconds": naive_s,
            "naive_full_seconds_extrapolated": naive_full, "separable_seconds": sep_s,
            "speedup": naive_full / sep_s, "max_abs_diff": diff}
        print(f"naive direct: {naive_s:.1f} s for {args.naive_n} -> {naive_full:.0f} s for "
              f"{train.space.n_space}; separable grid {sep_s:.2f} s; "
              f"speed-up {naive_full / sep_s:.0f}x; "
              f"max |diff| {diff:.2e} eV/atom")

    if args.cv:
        cv = reference_module.cross_validate(train, args.sigmas, args.lambdas, k=args.folds,
                                             progress=True)
        res["cv"] = cv.to_dict()
        print(cv.to_markdown())
        print(f"CV best sigma={cv.best_sigma:g} lambda={cv.best_lambda:g} "
              f"MAE={cv.best_mae:.4f}; {cv.seconds:.0f} s ({cv.solver})")

    res["peak_rss_mib"] = peak_rss_mib()
    print(f"peak RSS {res['peak_rss_mib']:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
