"""The benchmark: every model of a :class:`~elpagen.harness.config.RunConfig` fitted once
per seed, sampled and scored against the reference energies; mean +- std per model.

This layer, the study and the reports are the only ones that bring models and the
reference energies together: models are fitted on the training set alone, their samples
are then scored with the reference classes (:func:`elpagen.harness.trial.reference_scorer`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from elpagen import catalogue, metrics
from elpagen.data import TrainingSet
from elpagen.harness.config import RunConfig
from elpagen.harness.trial import fit, reference_scorer, run_trial
from elpagen.machine import environment
from elpagen.metrics import METRIC_KEYS

Log = Callable[[str], None]
#: Per-model counts kept in the summary besides the metrics.
COUNT_KEYS = ("n_unique", "n_novel", "n_valid", "n_samples")


def benchmark_model(name: str, train: TrainingSet, ref_classes: np.ndarray,
                    config: RunConfig, threads: int | None = None,
                    spec: catalogue.ModelSpec | None = None) -> dict[str, Any]:
    """Fit, sample and score one model for every seed (runs in a worker process too):
    its summary (mean +- std), timings and per-seed metrics. ``spec``: the record of a
    model registered in the parent process (a fresh worker knows only the built-ins)."""
    if threads is not None:  # a fresh worker process: the parent's thread settings
        from elpagen import threads as _threads

        _threads.configure(threads)
    if spec is not None:
        catalogue.register(spec, replace=True)
    t0 = time.perf_counter()
    gens = fit(name, train, config.seeds, config.target_class, protocol=config.protocol,
               overrides=config.overrides_of(name), device=config.device,
               progress=config.progress, mixture=config.mixture)
    fit_seconds = time.perf_counter() - t0
    score = reference_scorer(ref_classes, train.codes, config.target_class)
    per_seed, sample_seconds = [], 0.0
    for seed, g in zip(config.seeds, gens, strict=True):
        r = run_trial(g, name, config.target_class, config.samples, seed, score,
                      progress=config.progress)
        sample_seconds += r.sample_seconds
        per_seed.append({**r.metrics, "seed": int(seed)})
    seconds = time.perf_counter() - t0
    agg = metrics.aggregate(per_seed)
    out: dict[str, Any] = {k: agg[k] for k in METRIC_KEYS}
    out.update({k: agg[k] for k in COUNT_KEYS if k in agg})
    out["seconds"] = round(seconds, 2)
    out["fit_seconds"] = round(fit_seconds, 2)
    out["sample_seconds"] = round(sample_seconds, 2)
    out["per_seed"] = per_seed
    return out


def run_benchmark(train: TrainingSet, ref_classes: np.ndarray, config: RunConfig,
                  log: Log | None = None) -> dict[str, Any]:
    """Train, sample and evaluate every model for every seed; mean +- std per model.

    ``config.jobs`` > 1 runs that many models at once, each in its own process with one
    thread (:mod:`elpagen.threads`): parallelism across fits holds up on a shared machine
    where intra-op threads do not. Every fit is seeded, so the numbers do not depend on
    ``jobs``.
    """
    results: dict[str, Any] = {}
    jobs = min(config.jobs, len(config.models))
    if jobs == 1:
        for name in config.models:
            if log:
                log(f"{name}: fitting {len(config.seeds)} seed(s) ({config.protocol} protocol)")
            results[name] = benchmark_model(name, train, ref_classes, config)
            if log:
                log(f"{name}: done in {results[name]['seconds']:.1f} s")
    else:
        results = _run_parallel(train, ref_classes, config, jobs, log)
    class_size = int(metrics.class_sizes(ref_classes)[config.target_class - 1])
    return {
        "target_class": config.target_class,
        "samples": config.samples,
        "seeds": len(config.seeds),
        "seed_values": list(config.seeds),
        "protocol": config.protocol,
        "mixture": config.mixture,
        "class_size": class_size,
        "ideal_coverage": metrics.ideal_coverage(class_size, config.samples),
        "models": {name: results[name] for name in config.models},  # the order asked for
        "environment": environment(),
    }


def _run_parallel(train: TrainingSet, ref_classes: np.ndarray, config: RunConfig, jobs: int,
                  log: Log | None) -> dict[str, Any]:
    """Each model in a worker process of its own (spawned: no forked OpenMP state)."""
    import dataclasses
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import torch

    threads = torch.get_num_threads()
    quiet = dataclasses.replace(config, progress=False)
    results: dict[str, Any] = {}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {}
        builtin = {s.name for s in catalogue.BUILTIN}
        for name in config.models:  # submitted in the order given: slowest models first
            spec = None if name in builtin else catalogue.get(name)
            futures[pool.submit(benchmark_model, name, train, ref_classes, quiet,
                                threads, spec)] = name
        if log:
            log(f"running {len(config.models)} models, {jobs} at a time (one process each, "
                f"{threads} thread(s) per process)")
        for fut in as_completed(futures):
            name = futures[fut]
            results[name] = fut.result()
            if log:
                log(f"{name}: done in {results[name]['seconds']:.1f} s")
    return results


def benchmark_table(result: Mapping[str, Any]) -> str:
    """A plain-text table of mean +- std per model, with the ideal-coverage bound."""
    head = (f"{'model':<10}{'precision':>17}{'prec. neigh.':>17}{'coverage':>19}"
            f"{'cov. neigh.':>19}{'JS dist.':>17}{'time [s]':>10}")
    lines = [
        f"class {result['target_class']}, {result['samples']:,} valid samples, "
        f"{result['seeds']} seed(s), {result['protocol']} protocol",
        head,
        "-" * len(head),
    ]

    def f(m: Mapping[str, Any], key: str, width: int, digits: int = 4) -> str:
        v = m[key]
        return f"{v['mean']:.{digits}f} ± {v['std']:.{digits}f}".rjust(width)

    screening = [n for n in result["models"] if catalogue.is_screening(n)]
    for name, m in result["models"].items():
        lines.append(
            f"{name + ('*' if name in screening else ''):<10}"
            f"{f(m, 'precision', 17)}{f(m, 'precision_neighbor', 17)}"
            f"{f(m, 'coverage', 19, 5)}{f(m, 'coverage_neighbor', 19, 5)}"
            f"{f(m, 'js_distance', 17)}"
            f"{m['seconds']:>10.1f}"
        )
    lines.append(
        f"ideal coverage (uniform draws from class {result['target_class']}, "
        f"N_c = {result['class_size']:,}): {result['ideal_coverage']:.5f}"
    )
    if screening:
        lines.append("* screening, not generation: scores the whole space with an energy "
                     "regressor fitted on the training set (docs/design.md)")
    return "\n".join(lines)
