"""Experiments: fit generators, sample, and score them against the reference energies.

This is the only layer besides the CLI and reports that brings models and the
reference energies together: models are fitted on the training set alone, their
samples are then scored by :mod:`elpagen.metrics` with the oracle's classes.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from elpagen import __version__, metrics
from elpagen.data import TrainingSet, check_class
from elpagen.errors import InputError
from elpagen.generator import Generator, Mixture, sample_seed
from elpagen.metrics import METRIC_KEYS
from elpagen.registry import BASELINE_CLASSES, GENERATOR_CLASSES, MODEL_CLASSES

#: Baselines that screen the enumerated space rather than generate (labelled in tables).
SCREENING = frozenset({"surrogate"})


class UnknownModelError(InputError):
    """A model name that is not built in."""


def check_models(names: Sequence[str]) -> list[str]:
    out = [n.strip() for n in names if n.strip()]
    for n in out:
        if n not in GENERATOR_CLASSES:
            raise UnknownModelError(
                f"unknown model {n!r}; choose from {', '.join(GENERATOR_CLASSES)}"
            )
    if not out:
        raise UnknownModelError(f"no model given; choose from {', '.join(GENERATOR_CLASSES)}")
    return out


def _check_ensemble(ensemble: int) -> None:
    if isinstance(ensemble, bool) or not isinstance(ensemble, int) or ensemble < 1:
        raise InputError(f"ensemble size must be a positive integer, got {ensemble!r}")


def check_sweep(
    models: Sequence[str], target_class: int, n_samples: int, ensemble: int = 1
) -> tuple[int, list[str]]:
    """Arguments shared by the benchmark and the frontier, checked before any work:
    returns (target class, model names)."""
    target_class = check_class(target_class)
    models = check_models(models)
    if n_samples <= 0:
        raise InputError(f"number of samples must be positive, got {n_samples}")
    _check_ensemble(ensemble)
    return target_class, models


def fit_generators(
    name: str,
    train: TrainingSet,
    seeds: Sequence[int],
    target_class: int,
    *,
    protocol: str = "fast",
    overrides: Mapping[str, Any] | None = None,
    device: str | None = "auto",
    progress: bool = False,
    ensemble: int = 1,
) -> list[Generator]:
    """One fitted generator per seed; the torch models train all seeds as one ensemble.

    With ``ensemble`` = K > 1 each seed s stands for a seed ensemble: the K fits with
    seeds s*K ... s*K + K - 1, sampled as one :class:`~elpagen.generator.Mixture`.
    """
    check_models([name])
    _check_ensemble(ensemble)
    fit_seeds = [s * ensemble + j for s in seeds for j in range(ensemble)]
    if name in MODEL_CLASSES:
        gens: list[Generator] = MODEL_CLASSES[name].fit_many(
            train, fit_seeds, target_class,
            protocol=protocol, device=device, progress=progress, **dict(overrides or {}),
        )
    else:
        # A baseline with settings (the surrogate) takes the overrides as keyword arguments.
        kw = dict(overrides or {})
        gens = [BASELINE_CLASSES[name](seed=s, **kw).fit(train, target_class)
                for s in fit_seeds]
    if ensemble == 1:
        return gens
    return [Mixture(gens[i : i + ensemble]) for i in range(0, len(gens), ensemble)]


@dataclass
class ModelResult:
    """Per-seed metrics of one model and the wall time spent (fit, sample, evaluate)."""

    name: str
    per_seed: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    fit_seconds: float = 0.0
    sample_seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        agg = metrics.aggregate(self.per_seed)
        out: dict[str, Any] = {k: agg[k] for k in METRIC_KEYS}
        for k in ("n_unique", "n_novel", "n_valid", "n_samples"):
            if k in agg:
                out[k] = agg[k]
        out["seconds"] = round(self.seconds, 2)
        out["fit_seconds"] = round(self.fit_seconds, 2)
        out["sample_seconds"] = round(self.sample_seconds, 2)
        return out


def _run_model(
    name: str,
    train: TrainingSet,
    ref_classes: np.ndarray,
    target_class: int,
    n_samples: int,
    seeds: Sequence[int],
    protocol: str,
    overrides: Mapping[str, Any] | None,
    device: str | None,
    ensemble: int,
    progress: bool,
    threads: int | None,
) -> dict[str, Any]:
    """Fit, sample and score one model for every seed (runs in a worker process too)."""
    if threads is not None:  # a fresh worker process: same thread settings as the parent
        from elpagen import threads as _threads

        _threads.configure(threads)
    r = ModelResult(name)
    t0 = time.perf_counter()
    gens = fit_generators(
        name, train, seeds, target_class, protocol=protocol,
        overrides=overrides, device=device, progress=progress, ensemble=ensemble,
    )
    r.fit_seconds = time.perf_counter() - t0
    for seed, g in zip(seeds, gens, strict=True):
        t1 = time.perf_counter()
        s = g.sample(n_samples, target_class, seed=sample_seed(seed), progress=progress)
        r.sample_seconds += time.perf_counter() - t1
        m = metrics.evaluate(s.codes, target_class, ref_classes, train.codes,
                             n_drawn=s.n_drawn)
        m["seed"] = int(seed)
        r.per_seed.append(m)
    r.seconds = time.perf_counter() - t0
    out = r.summary()
    out["per_seed"] = r.per_seed
    return out


def run_benchmark(
    train: TrainingSet,
    ref_classes: np.ndarray,
    models: Sequence[str],
    target_class: int,
    n_samples: int,
    seeds: Sequence[int],
    *,
    protocol: str = "fast",
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    device: str | None = "auto",
    progress: bool = False,
    log=None,
    jobs: int = 1,
    ensemble: int = 1,
) -> dict[str, Any]:
    """Train, sample and evaluate every model for every seed; mean +- std per model.

    ``ensemble`` = K > 1 makes each seed a seed ensemble of K fits sampled as one
    mixture (:func:`fit_generators`).

    ``jobs > 1`` runs that many models at once, each in its own process with one
    thread (see :mod:`elpagen.threads`): parallelism across fits holds up on a shared
    machine where intra-op threads do not. Every fit is seeded, so the numbers do not
    depend on ``jobs``.
    """
    target_class, models = check_sweep(models, target_class, n_samples, ensemble)
    if jobs < 1:
        raise InputError(f"jobs must be 1 or more, got {jobs}")
    class_size = int(metrics.class_sizes(ref_classes)[target_class - 1])
    args = {
        name: (name, train, ref_classes, target_class, n_samples, list(seeds), protocol,
               (overrides or {}).get(name), device, ensemble)
        for name in models
    }
    results: dict[str, Any] = {}
    jobs = min(jobs, len(models))
    if jobs == 1:
        for name in models:
            if log:
                log(f"{name}: fitting {len(seeds)} seed(s) ({protocol} protocol)")
            results[name] = _run_model(*args[name], progress, None)
            if log:
                log(f"{name}: done in {results[name]['seconds']:.1f} s")
    else:
        results = _run_parallel(args, jobs, log)
    return {
        "target_class": target_class,
        "samples": n_samples,
        "seeds": len(seeds),
        "seed_values": [int(s) for s in seeds],
        "protocol": protocol,
        "ensemble": ensemble,
        "class_size": class_size,
        "ideal_coverage": metrics.ideal_coverage(class_size, n_samples),
        "models": {name: results[name] for name in models},  # the order asked for
        "environment": environment(),
    }


def _run_parallel(args: Mapping[str, tuple], jobs: int, log) -> dict[str, Any]:
    """Each model in a worker process of its own (spawned: no forked OpenMP state)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import torch

    threads = torch.get_num_threads()
    results: dict[str, Any] = {}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {}
        for name, a in args.items():  # submitted in the order given: slowest models first
            futures[pool.submit(_run_model, *a, False, threads)] = name
        if log:
            log(f"running {len(args)} models, {jobs} at a time (one process each, "
                f"{threads} thread(s) per process)")
        for fut in as_completed(futures):
            name = futures[fut]
            results[name] = fut.result()
            if log:
                log(f"{name}: done in {results[name]['seconds']:.1f} s")
    return results


def environment() -> dict[str, str]:
    """Versions and machine, recorded with every result."""
    import torch

    return {
        "elpagen": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": _cpu_name(),
        "cpus": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                    else os.cpu_count()),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def format_table(result: Mapping[str, Any]) -> str:
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

    screening = [n for n in result["models"] if n in SCREENING]
    for name, m in result["models"].items():
        lines.append(
            f"{name + ('*' if name in SCREENING else ''):<10}"
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
