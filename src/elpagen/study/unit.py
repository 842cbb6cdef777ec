"""The work of one study unit, as pure functions of their inputs.

:func:`fit_members` trains the seeds of one fit key (one batched ensemble for the torch
models) and :func:`compute_unit` samples one fitted member and scores it: what they need
from earlier work (the fit, its record) is passed in, and they write nothing. The serial
runner (:mod:`elpagen.study.runner`) and the Dask workers
(:mod:`elpagen.study.distributed`) call the same two functions; only the driver saves
checkpoints and writes the store.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from elpagen import catalogue, expected, metrics
from elpagen.data import TrainingSet
from elpagen.generator import Generator, SamplingError, sample_seed
from elpagen.harness import frontier
from elpagen.harness.trial import fit, reference_expectation, reference_scorer, run_trial
from elpagen.study.plan import (
    CURVE_POINTS,
    EXPECTED_FRONTIER_CLASSES,
    SUBSET_SEED,
    Experiment,
    Unit,
    frontier_grid,
    training_spent,
)

#: The experiments whose units store the exact expected metrics beside the sampled ones
#: (``payload["expected"]``) when the model's distribution is known; ``size`` and ``curve1``
#: do not: a distribution costs about 3 s per fit for ar and gfn (docs/study.md).
EXPECTED_EXPERIMENTS = (Experiment.CLASS1, Experiment.CLASS5)


def space_entry(space) -> dict[str, Any]:
    """What a study records of its composition space (the reference artifact and the
    results document's ``space``): enough to name it and check it is the same."""
    # The sites the first symmetry moves ("A/B": the elpasolite's twins), "" for none.
    twins = ("/".join(space.site_names[i] for i, p in enumerate(space.symmetries[0]) if p != i)
             if space.symmetries else "")
    return {"name": space.name, "fingerprint": space.fingerprint,
            "formula_pattern": space.formula_pattern, "n_space": int(space.n_space),
            "twins": twins}


def fit_key(unit: Unit) -> str:
    """The fit ``unit`` samples (a conditional catalogue model: one fit for every class)."""
    return unit.fit_key(catalogue.get(unit.model).conditional)


def unit_sample_seed(unit: Unit) -> int:
    """The sampling seed of ``unit``: the benchmark's rule for its fit seed; curve1 samples
    the class-1 fit again, so it draws its own stream, not a longer class1 run."""
    return sample_seed(unit.seed) + (1 if unit.experiment == Experiment.CURVE1 else 0)


def training_subset(train: TrainingSet, size: int) -> TrainingSet:
    """The training set of a unit: the full set (size 0) or the study's fixed subset."""
    return train.subset(size, seed=SUBSET_SEED) if size else train


@dataclass(frozen=True)
class UnitInputs:
    """What every unit of a study reads besides its fit (broadcast once to Dask workers)."""

    ref_classes: np.ndarray
    """Reference class of every grid point (the scorer's truth)."""
    ref_energies: np.ndarray
    """Reference energy of every grid point (the class-1 energy histogram)."""
    hist_edges: np.ndarray
    """Bin edges of every energy histogram of the study."""
    n_class1: int
    """Compositions of class 1 in the whole space (the cost of discovery)."""
    estimate: str = "sampled"
    """How models without a known distribution are measured (the settings' ``estimate``;
    :data:`~elpagen.study.plan.ESTIMATES`): ``extrapolated`` or ``sampled`` (as before)."""
    rarefaction_draws: int = 0
    """Draws K of the rarefied class-1 expectations of those models (0: none)."""
    frontier5_knobs: Mapping[str, Sequence[float]] = field(default_factory=dict)
    """The reduced class-5 frontier grid per model (the settings' ``"frontier5_knobs"``;
    empty: every model's whole grid)."""


@dataclass
class FitResult:
    """The members of one fit key trained together, and the fit record the store keeps."""

    members: dict[int, Generator]
    info: dict[str, Any]


def fit_members(unit: Unit, seeds: Sequence[int], train: TrainingSet, protocol: str,
                overrides: Mapping[str, Any] | None, device: str | None = "auto",
                progress: bool = False) -> FitResult:
    """Train the fit of ``unit`` for ``seeds`` (one batched ensemble for torch models) on
    ``train`` (already the unit's training subset)."""
    t0 = time.perf_counter()
    gens = fit(unit.model, train, list(seeds), unit.target_class, protocol=protocol,
               overrides=overrides, device=device, progress=progress)
    seconds = time.perf_counter() - t0
    conditional = catalogue.get(unit.model).conditional
    info = {"model": unit.model, "ensemble_seeds": list(seeds), "ensemble_seconds": seconds,
            "seconds_per_member": seconds / len(seeds), "n_train": len(train),
            "train_size": unit.train_size,
            "target_class": None if conditional else unit.target_class}
    return FitResult(dict(zip(seeds, gens, strict=True)), info)


def compute_unit(unit: Unit, gen: Generator, train: TrainingSet, inputs: UnitInputs,
                 fit_info: Mapping[str, Any] | None = None,
                 progress: bool = False) -> tuple[dict[str, Any], str]:
    """Sample, score and describe one unit with its fitted member ``gen``; returns
    (payload, status). A :class:`~elpagen.generator.SamplingError` is deterministic for
    a fit and seed, so it is recorded (status ``failed``) rather than retried."""
    fit_info = fit_info or {}
    fk = fit_key(unit)
    if unit.experiment == Experiment.FRONTIER:
        return _frontier_unit(unit, gen, train, inputs, fit_info)
    score = reference_scorer(inputs.ref_classes, train.codes, unit.target_class, train.space)
    expect = (reference_expectation(inputs.ref_classes, unit.target_class, train.space)
              if unit.experiment in EXPECTED_EXPERIMENTS else None)
    # Class 5 of a model without a distribution: K = N / 2 draws, coverage extrapolated.
    extrapolate = (unit.experiment == Experiment.CLASS5 and inputs.estimate == "extrapolated"
                   and not frontier.offers_distribution(gen))
    n_draw = expected.extrapolation_draws(unit.n_samples) if extrapolate else unit.n_samples
    estimated: dict[str, Any] = {}
    try:
        r = run_trial(gen, unit.model, unit.target_class, n_draw, unit.seed, score,
                      sampling_seed=unit_sample_seed(unit), progress=progress,
                      keep_codes=True, expect=expect)
        if (r.expected is None and unit.experiment == Experiment.CLASS1
                and inputs.rarefaction_draws):  # rarefied, from draws of their own stream
            exp, label = frontier.estimate_from_draws(
                gen, unit.model, unit.target_class, unit.n_samples,
                max(inputs.rarefaction_draws, unit.n_samples), unit_sample_seed(unit),
                inputs.ref_classes, train.space)
            estimated = {"expected": exp, "expected_estimate": label}
    except SamplingError as e:
        return {"error": str(e).splitlines()[0], "fit_key": fk}, "failed"
    t1 = time.perf_counter()
    codes, m = r.codes, r.metrics
    if extrapolate:
        _extrapolate(m, codes, unit, train, inputs)
        estimated = {"estimate": "extrapolated", "estimate_k": n_draw}
    # SMACT pass fractions: only with the materials extra and its cached table.
    from elpagen import smact_screen

    m.update(smact_screen.fractions_if_cached(codes, space=train.space))
    payload: dict[str, Any] = {
        "metrics": m,
        "fit_key": fk,
        "n_train": len(train),
        "sample_seed": unit_sample_seed(unit),
        "fit_seconds": fit_info.get("seconds_per_member"),
        "fit_ensemble_seeds": fit_info.get("ensemble_seeds"),
        "sample_seconds": r.sample_seconds,
    }
    if r.expected is not None:  # exact expectations at the same N (elpagen.expected)
        payload["expected"] = r.expected
    payload.update(estimated)  # estimates (labelled) of a model without a distribution
    if unit.experiment == Experiment.CLASS1:
        payload["site_distribution"] = np.round(metrics.site_distributions(codes, train.space), 6)
        uniq = metrics.unique_energies(codes, inputs.ref_energies)
        payload["energy_hist"] = np.histogram(uniq, bins=inputs.hist_edges)[0]
        payload["cost"] = metrics.cost_of_discovery(
            m["n_unique"], m["n_unique_in_class"], inputs.n_class1, train.space.n_space,
            n_train=training_spent(unit.model, len(train)))
    if unit.experiment in (Experiment.CURVE1, Experiment.CLASS5):
        curve = metrics.discovery_curve(
            codes, inputs.ref_classes, train.codes,
            points=metrics.default_points(len(codes), CURVE_POINTS),
        )
        payload["curve"] = {k: np.asarray(v).tolist() for k, v in curve.items()}
    payload["eval_seconds"] = r.score_seconds + (time.perf_counter() - t1)
    return payload, "ok"


def _extrapolate(m: dict[str, Any], codes: np.ndarray, unit: Unit, train: TrainingSet,
                 inputs: UnitInputs) -> None:
    """``m`` (the metrics of K valid draws) with coverage, its neighbour and novel
    versions, distinct compositions and the ideal coverage at the unit's N: coverage
    extrapolated by Good-Toulmin (:func:`elpagen.expected.estimated_metrics`); precision,
    the JS distances and the counts stay the K draws'."""
    est = expected.estimated_metrics(codes, unit.target_class, inputs.ref_classes,
                                     unit.n_samples, space=train.space,
                                     train_codes=train.codes)
    for k in ("coverage", "coverage_neighbor", "coverage_novel", "n_unique"):
        m[k] = est[k]
    size = int(np.count_nonzero(inputs.ref_classes == unit.target_class))
    m["n_unique_in_class"] = est["coverage"] * size
    m["ideal_coverage"] = metrics.ideal_coverage(size, unit.n_samples)


def by_expectation(unit: Unit) -> bool:
    """Whether ``unit`` takes its points from the exact expectations of a model that offers
    its distribution instead of sampling (the class-5 frontier:
    :data:`~elpagen.study.plan.EXPECTED_FRONTIER_CLASSES`)."""
    return (unit.experiment == Experiment.FRONTIER
            and unit.target_class in EXPECTED_FRONTIER_CLASSES)


def _frontier_unit(unit: Unit, gen: Generator, train: TrainingSet, inputs: UnitInputs,
                   fit_info: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """One fit swept along its knob grid; ``metrics`` holds the point at the fitted value.

    :func:`by_expectation` units of a model that offers its distribution take every point
    from the exact expectation at the unit's N (:func:`elpagen.harness.frontier.expected_sweep`,
    no sampling; ``estimate`` "expected"); the others are sampled
    (:func:`elpagen.harness.frontier.sweep`, the same sampling seed at every value, so the
    fitted value repeats the class-1/class-5 unit when the sample counts agree; ``estimate``
    "sampled"), with the exact expectations beside each point where they exist."""
    t0 = time.perf_counter()
    values = frontier.knob_values(gen, frontier_grid(inputs.frontier5_knobs, unit))
    extra: dict[str, Any] = {}
    estimated = inputs.estimate == "extrapolated" and not frontier.offers_distribution(gen)
    try:
        points = (frontier.expected_sweep(gen, unit.model, values, unit.target_class,
                                          unit.n_samples, inputs.ref_classes,
                                          space=train.space)
                  if by_expectation(unit) else None)
        estimate = "sampled" if points is None else "expected"
        if points is None:
            # Class 5 (estimated): K = N / 2 draws a point; class 1: rarefied beside.
            extrapolate = estimated and by_expectation(unit)
            draws = (max(inputs.rarefaction_draws, unit.n_samples)
                     if estimated and inputs.rarefaction_draws and not extrapolate else 0)
            points = frontier.sweep(gen, unit.model, values, unit.target_class,
                                    unit.n_samples, unit.seed, inputs.ref_classes,
                                    train.codes, expected=True, space=train.space,
                                    rarefaction_draws=draws, extrapolate=extrapolate,
                                    sampling_seed=unit_sample_seed(unit))
            if extrapolate:
                estimate = "extrapolated"
                extra["estimate_k"] = expected.extrapolation_draws(unit.n_samples)
            elif draws:
                extra["expected_estimate"] = expected.estimate_label(draws, unit.n_samples)
    except SamplingError as e:
        return {"error": str(e).splitlines()[0], "fit_key": fit_key(unit)}, "failed"
    default = next(p for p in points if p["knob"] == gen.knob_value)
    payload = {
        "knob": gen.knob,
        "default": gen.knob_value,
        "estimate": estimate,
        "points": points,
        "hypervolume": metrics.hypervolume([(p["precision"], p["coverage"]) for p in points]),
        "metrics": {"n_valid": unit.n_samples, **default},
        "fit_key": fit_key(unit),
        "n_train": len(train),
        "sample_seed": unit_sample_seed(unit),
        "fit_seconds": fit_info.get("seconds_per_member"),
        "sample_seconds": time.perf_counter() - t0,
        **extra,
    }
    return payload, "ok"


def describe(payload: Mapping[str, Any], status: str) -> str:
    """The progress-line summary of one finished unit (serial and distributed runs)."""
    if status != "ok":
        return f"FAILED: {payload['error']}"
    m = payload["metrics"]
    if payload.get("estimate") == "expected":
        return f"exact expectation at {m['n_valid']:,} samples, precision {m['precision']:.3f}"
    return f"{m['n_valid']:,} samples, precision {m['precision']:.3f}"
