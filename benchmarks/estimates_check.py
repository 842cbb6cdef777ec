"""The two estimates of a model without a known distribution against sampling (issue 28,
item 1; docs/benchmarks.md, "Estimated coverage"), on fast-protocol VAE and GAN fits:

* class 5, at each knob value: coverage extrapolated to N from K = N / 2 valid draws
  (Good-Toulmin, what the study's class 5 now does) against the coverage of N sampled
  draws, and precision, neighbour precision and JS distance of the K draws against the N
  draws' (N: ``--class5-samples``, 10^6 by default instead of the study's 25 M);
* class 1: the rarefied coverage at N = 10,000 from ``--draws`` valid draws (10^6, what
  the benchmark and the study now put beside the sampled values) against the mean and sd
  of ``--runs`` sampled 10,000-draw runs.

Fits: ``--models`` trained once for ``--seeds`` (one batched ensemble, fast protocol; both
models are conditional: one fit serves both classes). Sampling seeds follow the study's
rule (``sample_seed``, the rarefied draws on ``estimate_seed``). Prints one JSON line per
measurement and a Markdown table per check at the end. Example::

    nice -n 5 python benchmarks/estimates_check.py --seeds 0,1,2 > estimates_check.log
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from elpagen import api, expected, metrics, threads
from elpagen.harness.trial import fit
from elpagen.seeds import estimate_seed, sample_seed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="vae,gan")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--knobs", default="0.5,1,2")
    ap.add_argument("--class5-samples", type=int, default=1_000_000)
    ap.add_argument("--class1-samples", type=int, default=10_000)
    ap.add_argument("--draws", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--protocol", default="fast")
    ap.add_argument("--steps", type=int, default=None,
                    help="training steps instead of the protocol's (a loaded machine)")
    args = ap.parse_args()
    threads.configure()  # the package's one thread per process (or $ELPAGEN_THREADS)
    seeds = [int(s) for s in args.seeds.split(",")]
    knobs = [float(v) for v in args.knobs.split(",")]
    train = api.load_training_set()
    ref = api.reference_energies(train)
    space, rc = train.space, ref.classes
    print(json.dumps({"loaded": True}), flush=True)
    rows5, rows1 = [], []
    for model in args.models.split(","):
        t0 = time.perf_counter()
        steps = {} if args.steps is None else {"steps": args.steps}
        gens = fit(model, train, seeds, 1, protocol=args.protocol, device="cpu",
                   overrides=steps, progress=True)
        print(json.dumps({"model": model, "fit_seconds": round(time.perf_counter() - t0, 1)}),
              flush=True)
        for seed, gen in zip(seeds, gens, strict=True):
            n = args.class5_samples
            k = expected.extrapolation_draws(n)
            for v in knobs:
                g = gen.with_knob(v)
                t = time.perf_counter()
                full = g.sample(n, 5, seed=sample_seed(seed)).codes
                t_full = time.perf_counter() - t
                t = time.perf_counter()
                half = g.sample(k, 5, seed=sample_seed(seed)).codes
                est = expected.estimated_metrics(half, 5, rc, n, space=space)
                t_half = time.perf_counter() - t
                m_full = metrics.evaluate(full, 5, rc, train.codes, space=space)
                m_half = metrics.evaluate(half, 5, rc, train.codes, space=space)
                row = {"model": model, "seed": seed, "knob": v, "n": n, "k": k,
                       "coverage_sampled": m_full["coverage"],
                       "coverage_extrapolated": est["coverage"],
                       "coverage_at_k": m_half["coverage"],
                       **{f"d_{key}": m_half[key] - m_full[key]
                          for key in ("precision", "precision_neighbor", "js_distance")},
                       "seconds_sampled": round(t_full, 1), "seconds_half": round(t_half, 1)}
                rows5.append(row)
                print(json.dumps(row), flush=True)
            # Class 1 at the fitted knob: rarefied from `draws` vs `runs` sampled runs.
            n1 = args.class1_samples
            t = time.perf_counter()
            many = gen.sample(args.draws, 1, seed=estimate_seed(sample_seed(seed))).codes
            rare = expected.estimated_metrics(many, 1, rc, n1, space=space)
            t_rare = time.perf_counter() - t
            runs = [metrics.evaluate(gen.sample(n1, 1, seed=sample_seed(seed) + 7919 * i).codes,
                                     1, rc, train.codes, space=space)["coverage"]
                    for i in range(args.runs)]
            row = {"model": model, "seed": seed, "n": n1, "k": len(many),
                   "coverage_rarefied": rare["coverage"],
                   "coverage_sampled_mean": float(np.mean(runs)),
                   "coverage_sampled_sd": float(np.std(runs, ddof=1)),
                   "precision_k": rare["precision"], "seconds_rarefied": round(t_rare, 1)}
            rows1.append(row)
            print(json.dumps(row), flush=True)
    print("\n| model | seed | knob | sampled at N | extrapolated from N/2 | diff | "
          "at K | d precision | d prec. neigh. | d JS |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows5:
        print(f"| {r['model']} | {r['seed']} | {r['knob']:g} | {r['coverage_sampled']:.5f} | "
              f"{r['coverage_extrapolated']:.5f} | "
              f"{r['coverage_extrapolated'] - r['coverage_sampled']:+.5f} | "
              f"{r['coverage_at_k']:.5f} | {r['d_precision']:+.5f} | "
              f"{r['d_precision_neighbor']:+.5f} | {r['d_js_distance']:+.5f} |")
    print("\n| model | seed | rarefied (K draws) | sampled mean | sampled sd | "
          "(rarefied - mean) / sd | seconds for K |")
    print("|---|---|---|---|---|---|---|")
    for r in rows1:
        z = (r["coverage_rarefied"] - r["coverage_sampled_mean"]) / r["coverage_sampled_sd"]
        print(f"| {r['model']} | {r['seed']} | {r['coverage_rarefied']:.4f} | "
              f"{r['coverage_sampled_mean']:.4f} | {r['coverage_sampled_sd']:.4f} | "
              f"{z:+.2f} | {r['seconds_rarefied']} |")


if __name__ == "__main__":
    main()
