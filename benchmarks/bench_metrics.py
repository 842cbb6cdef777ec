"""Benchmark of elpagen.metrics at the scale of the class-5 experiment (docs/method.md section 7).

Draws N valid compositions uniformly from the space (default 25 million, the number
of samples per fit for class 5), builds a reference class map over the space's grid and
times ``evaluate`` and ``discovery_curve`` separately and together.

The class map is synthetic by default (ten equal-width bins of a fixed random linear
function of the (period, group) vector, so classes are as imbalanced as real ones);
``--real`` uses ``elpagen.reference`` when it exists and falls back otherwise. The
metrics' cost depends on N and the grid size, not on which class map is used.

    .venv/bin/python benchmarks/bench_metrics.py [--n 25000000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

import numpy as np

from elpagen import metrics, spaces

#: The space benchmarked (the default one; its reference and data are the cached ones).
SPACE = spaces.get()


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def synthetic_ref_classes(seed: int = 0) -> np.ndarray:
    """Ten equal-width classes of a random linear 'energy' of the (period, group) vector
    (+ noise)."""
    rng = np.random.default_rng(seed)
    el = SPACE.decode(np.arange(SPACE.n_grid, dtype=SPACE.code_dtype))
    feats = SPACE.to_features(el).astype(np.float32)
    energy = feats @ rng.normal(size=SPACE.n_features).astype(np.float32)
    energy += rng.normal(scale=0.5, size=SPACE.n_grid).astype(np.float32)
    valid = SPACE.is_valid(el)
    lo, hi = float(energy[valid].min()), float(energy[valid].max())
    k = np.clip(np.floor((energy - lo) / ((hi - lo) / 10)), 0, 9).astype(np.int8) + 1
    k[~valid] = 0
    return k


def real_ref_classes() -> np.ndarray | None:
    """Classes of elpagen.reference (the reference energies), else None."""
    try:
        from elpagen import reference as reference_module
        from elpagen.data import load_training_set

        ref, _ = reference_module.load_or_build(load_training_set(space=SPACE))
        classes = np.asarray(ref.classes)
        if classes.shape == (SPACE.n_grid,):
            return classes.astype(np.int8)
    except Exception as e:  # any failure: fall back, but say why
        print(
            f"# oracle not usable ({type(e).__name__}: {e}); using synthetic classes",
            file=sys.stderr,
        )
    return None


def training_codes() -> tuple[np.ndarray, str]:
    """The augmented DFT training codes when ELPAGEN_DATA is set, else 21,112 random ones."""
    if os.environ.get("ELPAGEN_DATA"):
        try:
            from elpagen.data import load_training_set

            return load_training_set(space=SPACE).codes, "DFT training set"
        except Exception as e:
            print(f"# DFT data not usable ({e}); using random training codes", file=sys.stderr)
    rng = np.random.default_rng(1)
    codes = SPACE.all_codes()
    return np.sort(rng.choice(codes, 21_112, replace=False)), "random 21,112 codes"


def timed(fn, repeat: int) -> tuple[list[float], object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return times, out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=25_000_000, help="number of valid samples")
    ap.add_argument("--target-class", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3, help="timed repetitions (min, median)")
    ap.add_argument("--real", action="store_true", help="use elpagen.oracle classes if present")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    ref = real_ref_classes() if args.real else None
    ref_source = "oracle" if ref is not None else "synthetic"
    if ref is None:
        ref = synthetic_ref_classes(args.seed)
    train, train_source = training_codes()
    rng = np.random.default_rng(args.seed)
    all_codes = SPACE.all_codes()
    # Uniform over the space, the distribution of random screening (repeats included).
    codes = all_codes[rng.integers(0, len(all_codes), args.n)]
    del all_codes
    setup_s = time.perf_counter() - t0
    rss_setup = peak_rss_mib()

    c = args.target_class
    t_eval, result = timed(lambda: metrics.evaluate(codes, c, ref, train, space=SPACE), args.repeat)
    rss_eval = peak_rss_mib()
    t_curve, curve = timed(lambda: metrics.discovery_curve(codes, ref, train), args.repeat)
    rss_curve = peak_rss_mib()

    def both():
        return (metrics.evaluate(codes, c, ref, train, space=SPACE),
                metrics.discovery_curve(codes, ref, train))

    t_both, _ = timed(both, args.repeat)

    def summary(ts: list[float]) -> dict:
        return {"min_s": round(min(ts), 3), "median_s": round(statistics.median(ts), 3)}

    report = {
        "n_samples": args.n,
        "target_class": c,
        "ref_classes": ref_source,
        "training": f"{train_source} ({len(train)})",
        "repeat": args.repeat,
        "setup_s": round(setup_s, 2),
        "evaluate": summary(t_eval),
        "discovery_curve": summary(t_curve),
        "evaluate_plus_curve": summary(t_both),
        "curve_points": int(len(curve["n_samples"])),
        "peak_rss_mib": {
            "after_setup": round(rss_setup, 1),
            "after_evaluate": round(rss_eval, 1),
            "after_curve": round(rss_curve, 1),
            "final": round(peak_rss_mib(), 1),
        },
        "result": result,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{args.n:,} samples, class {c}, {ref_source} classes, {report['training']}")
        for key in ("evaluate", "discovery_curve", "evaluate_plus_curve"):
            s = report[key]
            print(f"  {key:<20} min {s['min_s']:.3f} s   median {s['median_s']:.3f} s")
        print(f"  peak RSS {report['peak_rss_mib']}")
        print(
            f"  n_unique {result['n_unique']:,}  n_novel {result['n_novel']:,}  "
            f"coverage {result['coverage']:.4f}  ideal {result['ideal_coverage']:.4f}"
        )
    return report


if __name__ == "__main__":
    main()
