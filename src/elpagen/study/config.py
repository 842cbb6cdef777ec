"""What a study records before any work: its settings (a store resumes only identical
ones) and the reference artifact (what the report needs from the training set and the
reference energies). Both read the space from the training set they are given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from elpagen import catalogue, metrics
from elpagen.expected import rarefaction_draws
from elpagen.harness.provenance import ReferenceProvenance
from elpagen.space import CompositionSpace
from elpagen.study.campaign_unit import campaign_settings
from elpagen.study.plan import (
    CURVE_POINTS,
    ESTIMATES,
    FRONTIER5_GRIDS,
    HIST_BIN_WIDTH,
    SUBSET_SEED,
    StudyError,
    StudyScale,
    fit_scale,
    fit_train_sizes,
    scale_for,
)
from elpagen.study.unit import space_entry


def make_settings(
    protocol: str,
    n_seeds: int,
    quick: bool,
    data_sha256: str,
    n_train: int,
    overrides: Mapping[str, Mapping[str, Any]],
    frontier5_samples: int | None = None,
    models: Sequence[str] | None = None,
    strategies: Sequence[str] | None = None,
    space: CompositionSpace | None = None,
    provenance: ReferenceProvenance | None = None,
    class_sizes: Sequence[int] | None = None,
    target: str = "energy",
    estimate: str = "extrapolated",
    frontier5_knobs: str = "reduced",
) -> dict[str, Any]:
    """Everything that fixes the results of a study; a store only resumes identical ones.

    ``models``: catalogue names (default: every model the catalogue puts in the study).
    ``strategies``: the campaigns' (default ``campaign_unit.STUDY_STRATEGIES``; [] none).
    ``frontier5_samples`` replaces the scale's samples per knob value of the class-5
    frontier (the longest experiment: 25 M in the full scale); 0 leaves it out.
    ``space``: the training set's composition space (default :data:`elpagen.spaces.DEFAULT`):
    the scale is fitted to its size (:func:`elpagen.study.plan.fit_scale`; the
    elpasolite's scale is unchanged), and a space other than the default is recorded
    under ``"space"`` (name and fingerprint; the default's settings have no such key, so
    its stores written before spaces existed resume). ``provenance``: the reference energies'
    parameters (default: those :mod:`elpagen.reference` builds with). ``class_sizes``: the
    reference's compositions per class 1..10; on a space other than the default they set
    the samples of each experiment (:func:`scale_samples`). ``target``: the training set's
    (recorded under ``"target"`` when it is not ``energy``). ``estimate``: how models
    without a known distribution are measured (:data:`~elpagen.study.plan.ESTIMATES`):
    ``extrapolated`` is recorded as ``"estimate"`` with the class-1 ``"rarefaction_draws"``;
    ``sampled`` records neither, so its settings are those of a study written before
    (and such a store resumes, :func:`resumed_estimate`). ``frontier5_knobs``: ``reduced``
    (vae's and gan's class-5 frontier at their classes' ``knob_grid_reduced``, recorded
    as ``"frontier5_knobs"``: :func:`frontier5_settings`) or ``full`` (every grid; nothing
    recorded, as before).
    """
    from elpagen import spaces
    from elpagen.version import __version__

    models = list(models) if models is not None else list(catalogue.names(study=True))
    space = space if space is not None else spaces.DEFAULT
    scale = scale_for(quick)
    if space != spaces.DEFAULT and class_sizes is not None:
        scale = scale_samples(scale, class_sizes)
    b = fit_scale(scale, space.n_space)
    if frontier5_samples is None:
        frontier5_samples = b.frontier5_samples
    if estimate not in ESTIMATES:
        raise StudyError(f"--estimate must be one of {', '.join(ESTIMATES)}, got {estimate!r}")
    if isinstance(frontier5_samples, bool) or not isinstance(frontier5_samples, int) \
            or frontier5_samples < 0:
        raise StudyError(f"--frontier5-samples must be 0 (no class-5 frontier) or a positive "
                         f"number of samples, got {frontier5_samples!r}")
    # The resolved settings of every configured model of the study (the screening
    # regressor has one protocol: it runs "fast" whatever the study's protocol).
    configs = {m: dataclasses.asdict(catalogue.get(m).config(protocol, overrides.get(m)))
               for m in models if catalogue.get(m).configured}
    out = {
        "protocol": protocol,
        "quick": bool(quick),
        "seeds": int(n_seeds),
        "seed_values": list(range(n_seeds)),
        "models": models,
        "samples": {"class1": b.class1_samples, "class5": b.class5_samples,
                    "curve_class1": b.curve1_samples, "training_size": b.class1_samples,
                    "frontier_class1": b.frontier1_samples,
                    "frontier_class5": frontier5_samples},
        # Sizes at or above the training set are dropped (a small set: scaled down).
        "train_sizes": fit_train_sizes(b.train_sizes, n_train),
        "subset_seed": SUBSET_SEED,
        "model_configs": configs,
        "elpagen_version": __version__,
        "data_sha256": data_sha256,
        "n_train": int(n_train),
        "oracle": (provenance or ReferenceProvenance.parameters()).to_dict(),
        "hist_bin_width": HIST_BIN_WIDTH,
        "curve_points": CURVE_POINTS,
    }
    out.update(frontier5_settings(frontier5_knobs, models, frontier5_samples))
    if space != spaces.DEFAULT:
        out["space"] = {"name": space.name, "fingerprint": space.fingerprint}
    if target != "energy":
        out["target"] = target
    if estimate != "sampled":
        out["estimate"] = estimate
        out["rarefaction_draws"] = rarefaction_draws(b.class1_samples)
    campaign = campaign_settings(b, quick, strategies, space)
    return out if campaign is None else {**out, "campaign": campaign}


def resumed_estimate(stored: Mapping[str, Any] | None, asked: str | None) -> str:
    """The estimate of a study run: the one ``asked`` (``--estimate``), else the stored
    study's (``stored``: the settings of the store being resumed; one without
    ``"estimate"`` was written before estimates existed, or with ``sampled``), else the
    default, ``extrapolated``."""
    if asked is not None:
        return asked
    if stored is not None:
        return str(stored.get("estimate", "sampled"))
    return ESTIMATES[0]


def frontier5_settings(grid: str, models: Sequence[str], n_samples: int) -> dict[str, Any]:
    """The settings' entry of ``--frontier5-knobs grid``: ``{"frontier5_knobs": {model:
    values}}`` for the models whose class names a ``knob_grid_reduced`` (vae, gan) when
    ``grid`` is ``reduced`` and the class-5 frontier runs (``n_samples`` > 0), else nothing
    (:data:`~elpagen.study.plan.FRONTIER5_GRIDS`)."""
    if grid not in FRONTIER5_GRIDS:
        raise StudyError(f"--frontier5-knobs must be one of {', '.join(FRONTIER5_GRIDS)}, "
                         f"got {grid!r}")
    knobs = {m: [float(v) for v in g] for m in models
             if (g := getattr(catalogue.get(m).cls, "knob_grid_reduced", None))}
    return {"frontier5_knobs": knobs} if grid == "reduced" and knobs and n_samples else {}


def resumed_frontier5_knobs(stored: Mapping[str, Any] | None, asked: str | None) -> str:
    """The class-5 frontier grid of a study run (``--frontier5-knobs``), as
    :func:`resumed_estimate`: the one ``asked``, else the resumed store's (one without
    ``"frontier5_knobs"``, written before them or with ``full``: ``full``), else ``reduced``."""
    if asked is not None:
        return asked
    if stored is not None:
        return "reduced" if stored.get("frontier5_knobs") else "full"
    return FRONTIER5_GRIDS[0]


def scale_samples(scale: StudyScale, class_sizes: Sequence[int]) -> StudyScale:
    """The study's samples on a space other than the elpasolite: each experiment's N by
    the rule of :func:`elpagen.harness.config.default_samples` for its class (class 1:
    class 1, the training-size experiment and the class-1 frontier; class 5: class 5 and
    its frontier); the class-1 discovery curve keeps the scale's ratio to class 1
    (25 x in the full study, 2.5 x in the quick one)."""
    from elpagen.harness.config import samples_for_class

    n1, n5 = samples_for_class(class_sizes[0]), samples_for_class(class_sizes[4])
    curve = round(n1 * scale.curve1_samples / scale.class1_samples)
    return dataclasses.replace(scale, class1_samples=n1, frontier1_samples=n1,
                               class5_samples=n5, frontier5_samples=n5, curve1_samples=curve)


# --------------------------------------------------------------------------- reference


def reference_payload(train, ref, loaded: bool, seconds: float) -> dict[str, Any]:
    """Everything the report needs from the training set and the reference energies."""
    finite = ref.energies[np.isfinite(ref.energies)]
    lo = min(float(finite.min()), float(train.energies.min()))
    hi = max(float(finite.max()), float(train.energies.max()))
    w = HIST_BIN_WIDTH
    # Bins aligned to multiples of 0.2 eV/atom, the same for every histogram of the study.
    start, stop = np.floor(lo / w), np.ceil(hi / w)
    edges = np.arange(start, stop + 1) * w
    space = train.space
    out: dict[str, Any] = {
        "class_sizes": metrics.class_sizes(ref.classes),
        "train_class_counts": train.class_counts(),
        "n_train": len(train),
        "n_space": space.n_space,
        "class_edges": train.energy_classes.edges,
        "js_table": metrics.reference_js_table(train.codes, train.classes, ref.classes,
                                               space),
        "site_space_class1": metrics.class_site_distributions(ref.classes, 1, space),
        "site_train_class1": metrics.site_distributions(train.codes_of_class(1), space),
        "hist_edges": np.round(edges, 10),
        "hist_train": np.histogram(train.energies, bins=edges)[0],
        "elements": list(space.elements),
        "sites": list(space.site_names),
        "site_elements": [list(site.elements) for site in space.sites],
        "space": space_entry(space),
        "oracle": ReferenceProvenance.of(ref, from_cache=loaded, load_seconds=seconds).to_dict(),
    }
    if train.target != "energy":  # the elpasolite's artifact as before
        out["target"] = train.target
    return out


