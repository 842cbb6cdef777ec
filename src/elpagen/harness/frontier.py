"""Precision-coverage frontiers: each generator swept along its sampling knob.

One fit per model and seed (:func:`elpagen.harness.trial.fit`), then a trial
(:func:`elpagen.harness.trial.run_trial`) at
every value of the model's knob grid (:attr:`elpagen.generator.Generator.knob_grid`, plus
the fitted value), each scored by :func:`elpagen.metrics.evaluate`. A model is then a
curve, not a point: its points (mean +- std over seeds), the knob values of its
non-dominated points, and the area under its frontier (:func:`elpagen.metrics.hypervolume`
against (0, 0), per seed, then mean +- std). docs/design.md, "Frontiers", lists the knobs.
:func:`expected_sweep` gives the same points as exact expectations, without sampling, for a
generator whose distribution is known (the study's class-5 frontier). A generator without
one gets its ``expected_*`` estimated from draws of its own (:func:`estimate_from_draws`:
rarefied from K = 100 x N draws at class 1), and :func:`sweep` can extrapolate its coverage
to N from K = N / 2 draws (``extrapolate``: the study's class-5 frontier).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from elpagen import catalogue, metric_specs, metrics
from elpagen.data import TrainingSet
from elpagen.data import class_label as data_class_label
from elpagen.generator import Generator, SamplingError
from elpagen.io import atomic_write
from elpagen.space import CompositionSpace

if TYPE_CHECKING:  # the report imports this module without the models (and torch)
    from elpagen.harness.config import RunConfig

#: The metrics of a frontier point (precision and coverage span the frontier).
POINT_KEYS = metric_specs.keys(metric_specs.View.FRONTIER)
#: The exact expectations a point carries when the generator's distribution is known.
EXPECTED_POINT_KEYS = metric_specs.keys(metric_specs.View.FRONTIER_EXPECTED)
#: Sampled points also carry the coverage outside the training set (not the exact
#: expectations: no closed form is computed for it).
DISCOVERY_KEYS = metric_specs.keys(metric_specs.View.DISCOVERY)


def knob_values(gen: Generator, grid: Sequence[float] | None = None) -> list[float | None]:
    """The knob values to sweep: ``grid`` (default: the generator's grid) plus the fitted
    value, ascending; ``[None]`` (one point) for a generator without a knob."""
    if gen.knob is None:
        return [None]
    values = {gen.check_knob(v) for v in (gen.knob_grid if grid is None else grid)}
    values.add(float(gen.knob_value))
    return sorted(values)


def non_dominated(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point dominates (both coordinates maximised;
    equal points are all kept)."""
    pts = [tuple(map(float, p)) for p in points]
    return [i for i, (x, y) in enumerate(pts)
            if not any(a >= x and b >= y and (a > x or b > y) for a, b in pts)]


def sweep(
    gen: Generator,
    model: str,
    values: Sequence[float | None],
    target_class: int,
    n_samples: int,
    seed: int,
    ref_classes: np.ndarray,
    train_codes: np.ndarray,
    expected: bool = False,
    *,
    space: CompositionSpace,
    timeout: float | None = None,
    rarefaction_draws: int = 0,
    extrapolate: bool = False,
    sampling_seed: int | None = None,
) -> list[dict[str, Any]]:
    """Metrics of one fitted generator at every knob value: one trial each, with the same
    sampling seed for each (``sampling_seed``, default the rule's for ``seed``).
    ``expected``: also the exact expectations of the precision and coverage
    (``expected_precision``, ...; :mod:`elpagen.expected`) where the generator's
    distribution is known, and where it is not and ``rarefaction_draws`` = K > 0, their
    rarefied estimates from K draws of their own stream (:func:`estimate_from_draws`; the
    sampled numbers stay the same). ``extrapolate``: a generator that offers no
    distribution (:func:`offers_distribution`) draws K = N / 2 valid samples per point and
    its coverage (and distinct compositions) is extrapolated to N = ``n_samples``
    (:func:`elpagen.expected.estimated_metrics`); the rest of its point is the K draws'.
    ``space``: the training set's (the grid of ``ref_classes``). ``timeout``: seconds a
    trial's sampling may stall (``--timeout``)."""
    from elpagen import expected as expected_module
    from elpagen.harness.trial import reference_expectation, reference_scorer, run_trial
    from elpagen.seeds import sample_seed

    score = reference_scorer(ref_classes, train_codes, target_class, space)
    expect = reference_expectation(ref_classes, target_class, space) if expected else None
    from elpagen import generations

    default = None if gen.knob is None else float(gen.knob_value)
    stream = sample_seed(seed) if sampling_seed is None else sampling_seed
    n_draw = (expected_module.extrapolation_draws(n_samples)
              if extrapolate and not offers_distribution(gen) else n_samples)
    out = []
    for v in values:
        r = run_trial(gen, model, target_class, n_draw, seed, score, knob=v, expect=expect,
                      keep_codes=v == default or n_draw < n_samples, timeout=timeout,
                      sampling_seed=stream)
        m = r.metrics
        if n_draw < n_samples:  # coverage at N extrapolated from the K draws
            assert r.codes is not None
            m = {**m, **expected_module.estimated_metrics(
                r.codes, target_class, ref_classes, n_samples, space=space,
                train_codes=train_codes)}
            m["js_distance"] = r.metrics["js_distance"]  # the K draws' own
        exp = {f"expected_{k}": r.expected[k] for k in EXPECTED_POINT_KEYS} if r.expected else {}
        if expected and r.expected is None and rarefaction_draws:
            est, _ = estimate_from_draws(gen, model, target_class, n_samples,
                                         rarefaction_draws, stream, ref_classes, space,
                                         knob=v, timeout=timeout)
            exp = {f"expected_{key}": est[key] for key in EXPECTED_POINT_KEYS}
        out.append({"knob": v, **{k: m[k] for k in (*POINT_KEYS, *DISCOVERY_KEYS, "n_unique")},
                    **exp})
        if r.codes is not None and v == default:  # the fitted value's samples (submission)
            out[-1]["generations"] = generations.encode(seed, r.codes, r.n_drawn)
    return out


def offers_distribution(gen: Generator) -> bool:
    """Whether ``gen`` has a ``composition_distribution`` (every member of a mixture): the
    models whose expectations are exact (:mod:`elpagen.expected`), at least at some
    settings; the others (vae, gan, a plug-in without the method) are estimated."""
    from elpagen.generator import Mixture

    if isinstance(gen, Mixture):
        return all(offers_distribution(m) for m in gen.members)
    return getattr(gen, "composition_distribution", None) is not None


def estimate_from_draws(
    gen: Generator,
    model: str,
    target_class: int,
    n_samples: int,
    draws: int,
    sampling_seed: int,
    ref_classes: np.ndarray,
    space: CompositionSpace,
    *,
    knob: float | None = None,
    timeout: float | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """The keys of :func:`elpagen.expected.expected_metrics` at ``n_samples`` draws,
    estimated from ``draws`` = K fresh valid draws of ``gen`` (at ``knob``) on their own
    stream (:func:`elpagen.seeds.estimate_seed` of ``sampling_seed``: the trial's numbers
    are not touched), and their label (:func:`elpagen.expected.estimate_label`):
    rarefied for K >= N. Costs K draws: about 2-3 CPU s for 10^6 VAE or GAN draws on the
    elpasolite."""
    from elpagen import expected
    from elpagen.harness.trial import user_code
    from elpagen.seeds import estimate_seed

    builtin = catalogue.is_builtin(model)
    with user_code(model, f"with_knob({knob})", builtin):
        g = gen if knob is None else gen.with_knob(knob)
    with user_code(model, "propose", builtin):
        s = g.sample(int(draws), target_class, seed=estimate_seed(sampling_seed),
                     **({} if timeout is None else {"timeout": timeout}))
    est = expected.estimated_metrics(s.codes, target_class, ref_classes, n_samples,
                                     space=space)
    return est, expected.estimate_label(len(s.codes), n_samples)


def expected_sweep(
    gen: Generator,
    model: str,
    values: Sequence[float | None],
    target_class: int,
    n_samples: int,
    ref_classes: np.ndarray,
    *,
    space: CompositionSpace,
) -> list[dict[str, Any]] | None:
    """The points of :func:`sweep` as exact expectations at ``n_samples`` valid draws, with
    no sampling (:mod:`elpagen.expected`): ``precision``, ``coverage`` and ``n_unique``
    (distinct compositions) are their expected values, ``js_distance`` is the JS distance
    of the distribution itself (the N -> inf limit: the sampled one has no closed-form
    expectation). None when the generator offers no distribution at some knob value (sample
    it with :func:`sweep`). A distribution with no mass on any composition raises
    :class:`~elpagen.generator.SamplingError`, as sampling it would."""
    from elpagen import expected
    from elpagen.harness.trial import user_code

    builtin = catalogue.is_builtin(model)
    valid = np.asarray(ref_classes) > 0
    out = []
    for v in values:
        with user_code(model, f"with_knob({v})", builtin):
            g = gen if v is None else gen.with_knob(v)
        with user_code(model, "composition_distribution", builtin):  # a plug-in's own method
            p = expected.distribution(g, target_class)
        if p is None:
            return None
        if not p[valid].any():
            knob = "" if v is None else f" at {gen.knob} = {v:g}"
            raise SamplingError(f"{model}: its distribution{knob} puts no mass on any "
                                f"composition of the space (class {target_class})")
        e = expected.expected_metrics(p, target_class, ref_classes, n_samples, space=space)
        out.append({"knob": v, "precision": e["precision"], "coverage": e["coverage"],
                    "js_distance": e["js_distance_limit"], "n_unique": e["n_unique"]})
    return out


def summarise(name: str, gen: Generator, per_seed: Sequence[Sequence[Mapping]]) -> dict:
    """Points (mean +- std over seeds), the front, and the hypervolume of one model."""
    points = []
    for i, first in enumerate(per_seed[0]):
        agg = metrics.aggregate([runs[i] for runs in per_seed])
        keys = [*POINT_KEYS, *(k for k in DISCOVERY_KEYS if k in agg), "n_unique",
                *(f"expected_{k}" for k in EXPECTED_POINT_KEYS if f"expected_{k}" in agg)]
        points.append({"knob": first["knob"], **{k: agg[k] for k in keys}})
    front = non_dominated([(p["precision"]["mean"], p["coverage"]["mean"]) for p in points])
    hv = [metrics.hypervolume([(r["precision"], r["coverage"]) for r in runs])
          for runs in per_seed]
    return {
        "knob": gen.knob,
        "default": gen.knob_value,
        "points": points,
        "front": [points[i]["knob"] for i in front],
        "hypervolume": {**metrics.aggregate([{"v": h} for h in hv])["v"], "per_seed": hv},
    }


def run_frontier(
    train: TrainingSet,
    ref_classes: np.ndarray,
    config: RunConfig,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fit each model once per seed, sweep its knob, score every point (see module doc).

    ``config.mixture`` = K > 1: each seed is a mixture of K fits sampled as one
    mixture; ``config.grids`` replaces a model's default knob grid.
    """
    from elpagen.expected import estimate_label, rarefaction_draws
    from elpagen.harness.trial import fit
    from elpagen.machine import environment

    results: dict[str, Any] = {}
    for name in config.models:
        t0 = time.perf_counter()
        if log:
            log(f"{name}: fitting {len(config.seeds)} seed(s) ({config.protocol} protocol)")
        gens = fit(name, train, config.seeds, config.target_class, protocol=config.protocol,
                   overrides=config.overrides_of(name), device=config.device,
                   progress=config.progress, mixture=config.mixture)
        fit_s = time.perf_counter() - t0
        values = knob_values(gens[0], config.grids.get(name))
        if log and gens[0].knob:
            log(f"{name}: fitted in {fit_s:.1f} s; sweeping {gens[0].knob} over "
                f"{', '.join(f'{v:g}' for v in values)}")
        per_seed = []
        # Points of a model without a known distribution: rarefied expectations (K draws).
        draws = (0 if offers_distribution(gens[0]) else
                 rarefaction_draws(config.samples, config.rarefaction_draws))
        for seed, gen in zip(config.seeds, gens, strict=True):
            per_seed.append(sweep(gen, name, values, config.target_class, config.samples,
                                  int(seed), ref_classes, train.codes, expected=True,
                                  space=train.space, timeout=config.timeout,
                                  rarefaction_draws=draws))
            if log:
                hv = metrics.hypervolume([(r["precision"], r["coverage"]) for r in per_seed[-1]])
                log(f"{name}: seed {seed} swept, hypervolume {hv:.4f}")
        results[name] = summarise(name, gens[0], per_seed)
        if draws:  # estimated, not exact: {"estimate": "rarefied", "k": K}
            results[name]["expected_estimate"] = estimate_label(draws, config.samples)
        results[name]["generations"] = [p["generations"] for runs in per_seed for p in runs
                                        if "generations" in p]
        results[name]["fit_seconds"] = round(fit_s, 2)
        results[name]["seconds"] = round(time.perf_counter() - t0, 2)
        if log:
            h = results[name]["hypervolume"]
            log(f"{name}: done in {results[name]['seconds']:.1f} s, hypervolume "
                f"{h['mean']:.4f} ± {h['std']:.4f}")
    return {
        **config.header(ref_classes, train),
        "published": published_points(config.target_class, train.space.name,
                                      getattr(train, "target", "energy")),
        "models": results,
        "environment": environment(),
    }


def published_points(target_class: int, space: str | None = None,
                     target: str = "energy") -> dict[str, dict[str, float]]:
    """The published (precision, coverage) of every catalogue model for ``target_class``
    (Table 1 of the paper for class 1), as JSON; none on a space other than the
    elpasolite's (``space``: its name, None for the default) or for another target
    (:func:`elpagen.catalogue.published`)."""
    return {k: {"precision": p, "coverage": c}
            for k, (p, c) in catalogue.published(target_class, space, target).items()}


def mean_spread(v: Mapping[str, Any], n: int, digits: int = 4) -> str:
    """``mean ± std`` of ``n`` fits; ``mean ± –`` for one fit, whose spread is unknown
    (not zero)."""
    spread = f"{v['std']:.{digits}f}" if n > 1 and v.get("std") is not None else "–"
    return f"{v['mean']:.{digits}f} ± {spread}"


def class_label(result: Mapping[str, Any]) -> str:
    """The run's target class as reports name it: ``class 1``, or ``stable (E_hull <=
    0.025 eV/atom)`` for the stable target (:func:`elpagen.data.class_label`)."""
    return data_class_label(result.get("target") or "energy", int(result["target_class"]))


def run_label(result: Mapping[str, Any]) -> str:
    """The class, and the space where it is not the default (a result written before
    results named their space is of the default)."""
    from elpagen import spaces

    space = result.get("space")
    on = f" on the {space} space" if space and space != spaces.DEFAULT.name else ""
    return class_label(result) + on


def optional_columns(result: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]
                     ) -> tuple[metric_specs.MetricSpec, ...]:
    """The DISCOVERY columns a printed table adds: those every row holds, on a space other
    than the elpasolite. There the training set is part of the truth (a fifth of a table),
    so coverage outside it says something of its own; the elpasolite's DFT file holds 86
    of its 3,934 class-1 compositions, so its tables (and the README's) stay as they
    were, while its results still hold the numbers."""
    from elpagen import spaces

    if result.get("space", spaces.DEFAULT.name) == spaces.DEFAULT.name:
        return ()
    return metric_specs.present(metric_specs.View.DISCOVERY, rows)


def frontier_table(result: Mapping[str, Any]) -> str:
    """One line per point: knob, precision, coverage, JS distance; '*' marks the front
    (``± –`` with one seed: no spread to show)."""
    lines = [f"{run_label(result)}, {result['samples']:,} valid samples, "
             f"{result['seeds']} seed(s), {result['protocol']} protocol; * = non-dominated"]
    points = [p for r in result["models"].values() for p in r["points"]]
    cols = metric_specs.columns(metric_specs.View.FRONTIER) + optional_columns(result, points)
    head = f"{'model':<10}{'knob':<18}" + "".join(f"{c.label:>{c.width}}" for c in cols)
    lines += [head, "-" * len(head)]

    n = result["seeds"]
    for name, r in result["models"].items():
        for p in r["points"]:
            knob = "-" if p["knob"] is None else f"{r['knob']}={p['knob']:g}"
            mark = "*" if p["knob"] in r["front"] else " "
            lines.append(f"{name:<10}{mark}{knob:<17}" + "".join(
                mean_spread(p[c], n, c.digits).rjust(c.width) for c in cols))
        h = r["hypervolume"]
        lines.append(f"{name:<10} hypervolume {mean_spread(h, n)}")
    return "\n".join(lines)


def plot_frontier(result: Mapping[str, Any], path: str | Path) -> Path:
    """Precision against coverage per model (mean +- std over seeds), the fitted value
    ringed, the front drawn as a step line, and the published Table 1 points (stars)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from elpagen.harness.config import METHOD_SAMPLES

    fig, ax = plt.subplots(figsize=(8.4, 5.2), layout="constrained")
    for i, (name, r) in enumerate(result["models"].items()):
        color = catalogue.color(name, f"C{i}")
        pts = r["points"]
        x = [p["coverage"]["mean"] for p in pts]
        y = [p["precision"]["mean"] for p in pts]
        ax.errorbar(x, y, xerr=[p["coverage"]["std"] for p in pts],
                    yerr=[p["precision"]["std"] for p in pts], fmt="o-", ms=4, lw=0.8,
                    color=color, alpha=0.8,
                    label=name + (f" ({r['knob']})" if r["knob"] else ""))
        for p, xi, yi in zip(pts, x, y, strict=True):
            if p["knob"] is not None:
                ax.annotate(f"{p['knob']:g}", (xi, yi), fontsize=6, color=color,
                            xytext=(3, 3), textcoords="offset points")
            if p["knob"] == r["default"] and p["knob"] is not None:
                ax.scatter([xi], [yi], s=110, facecolors="none", edgecolors=color, lw=1.4)
        front = sorted((xi, yi) for p, xi, yi in zip(pts, x, y, strict=True)
                       if p["knob"] in r["front"])
        ax.step([f[0] for f in front], [f[1] for f in front], where="pre", color=color,
                lw=2, alpha=0.5)
        pub = result.get("published", {}).get(name)
        if pub and result["samples"] == METHOD_SAMPLES:  # the paper's N: comparable coverage
            ax.scatter([pub["coverage"]], [pub["precision"]], marker="*", s=200, color=color,
                       edgecolors="black", lw=0.6, zorder=5, label=f"{name}, published")
    ax.set_xlabel("coverage")
    ax.set_ylabel("precision")
    ax.set_xlim(left=0)
    ax.set_ylim(0, 1.02)
    n_seeds = result["seeds"]
    # Two lines: on one, a long space or target name runs past the figure's left edge.
    ax.set_title(f"Precision-coverage frontiers, {run_label(result)}\n"
                 f"{result['samples']:,} samples, {n_seeds} seed{'s' * (n_seeds != 1)}; "
                 "ring: fitted value; steps: the front", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    out = Path(path)
    atomic_write(out, buf.getvalue())
    return out
