"""The work of one campaign unit of the study, as pure functions of their inputs.

A campaign unit (:data:`elpagen.study.plan.Experiment.CAMPAIGN`) is one strategy's
discovery campaign for one target class and seed (:func:`elpagen.campaign.run.run_one`):
the seed's random start set, then rounds of labels bought from the labeller until the
budget is spent. It has no fit and no checkpoint: the serial runner
(:mod:`elpagen.study.runner`) and the Dask workers (:mod:`elpagen.study.distributed`) call
:func:`compute_campaign_unit` with the reference energies they already hold, which only
the campaign's labeller reads; the strategy sees the labels it bought.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from elpagen.campaign import run, strategies
from elpagen.campaign.labeller import CampaignError
from elpagen.data import TrainingSet
from elpagen.errors import UserError
from elpagen.space import CompositionSpace
from elpagen.study.plan import CAMPAIGN_CLASSES, Experiment, StudyError, StudyScale, Unit
from elpagen.study.unit import describe

#: The study's default strategies: the cheap-but-meaningful ones of
#: :data:`elpagen.campaign.strategies.DEFAULT` (seconds to a few minutes per campaign at
#: the full scale). ``greedy`` (and ``marginal+greedy``) refit the MLP regressor every
#: round, 10-15 minutes per campaign on 2 cores, and the generator strategies retrain a
#: network each round: name them with ``strategies=`` to include them.
STUDY_STRATEGIES: tuple[str, ...] = tuple(c.name for c in (
    strategies.RandomStrategy, strategies.RidgeStrategy, strategies.UCBStrategy,
    strategies.MarginalStrategy, strategies.MarginalPoolStrategy,
    strategies.MarginalKernelStrategy))


def is_campaign(unit: Unit) -> bool:
    """A campaign unit: a strategy's campaign, no fit (its ``model`` is no catalogue name)."""
    return unit.experiment == Experiment.CAMPAIGN


def campaign_settings(scale: StudyScale, quick: bool, names: Sequence[str] | None = None,
                      space: CompositionSpace | None = None) -> dict[str, Any] | None:
    """The ``campaign`` block of the study's settings (None: no campaign experiment, when
    ``names`` is empty). ``names``: strategy names or ``module.path:ClassName`` (default
    :data:`STUDY_STRATEGIES`); each is resolved here, so a bad one is one line before any
    work, and its settings are recorded (a store resumes only with the same ones)."""
    names = list(STUDY_STRATEGIES if names is None else names)
    if not names:
        return None
    try:
        resolved = [strategies.resolve(n) for n in names]
    except UserError as e:
        raise StudyError(str(e)) from None
    specs = [n.strip() for n in names]
    if len(set(specs)) != len(specs):
        raise StudyError(f"--strategies: give distinct strategies, got {','.join(names)}")
    return {
        "strategies": specs,
        "classes": list(CAMPAIGN_CLASSES),
        "start": str(scale.campaign_start),
        "batch": scale.campaign_batch,
        "budget": scale.campaign_budget,
        "pool": scale.campaign_pool,
        "label_noise": scale.campaign_label_noise,
        "strategy_settings": {spec: _settings(cls, 0, quick, space)
                              for spec, (_, cls) in zip(specs, resolved, strict=True)},
    }


def campaign_config(unit: Unit, campaign: Mapping[str, Any], quick: bool
                    ) -> run.CampaignConfig:
    """The campaign of ``unit``: one strategy, one seed, the study's campaign settings."""
    return run.CampaignConfig(
        strategies=(unit.model,), target_class=unit.target_class, start=campaign["start"],
        batch=int(campaign["batch"]), budget=int(campaign["budget"]), seeds=(unit.seed,),
        pool=campaign["pool"], label_noise=float(campaign["label_noise"]), quick=bool(quick))


def _settings(cls: type, seed: int, quick: bool, space: CompositionSpace | None
              ) -> dict[str, Any]:
    """A strategy's settings as recorded: described in the study's space (the one-hot
    features' shape, the kernel's norm), as the campaign itself records them."""
    s = cls(seed=seed, quick=quick)
    s.space = space
    return s.settings()


@functools.cache
def all_codes(space: CompositionSpace) -> np.ndarray:
    """Every composition of ``space`` (int64), made once per process and space (the
    elpasolite's: ~16 MB)."""
    out = space.all_codes().astype(np.int64)
    out.flags.writeable = False
    return out


def compute_campaign_unit(unit: Unit, campaign: Mapping[str, Any], quick: bool,
                          train: TrainingSet, energies: np.ndarray, classes: np.ndarray
                          ) -> tuple[dict[str, Any], str]:
    """Run the campaign of ``unit``; returns (payload, status). ``energies`` and
    ``classes`` are the reference energies and classes over the grid, handed to the
    campaign's labeller alone. A strategy that breaks the campaign's rules (an invalid,
    repeated or already-labelled composition) does so for this seed every time: the unit
    is recorded as failed with that line, not retried."""
    config = campaign_config(unit, campaign, quick).check(train)
    name, cls = strategies.resolve(unit.model)
    codes = all_codes(train.space)
    has_value = classes[codes] > 0  # a table space has no reference value for some
    if not has_value.all():
        codes = codes[has_value]
    start = run.start_codes(config.start, train, unit.seed, codes)
    try:
        r = run.run_one(name, cls, energies, classes, train, config, unit.seed, start, codes)
    except CampaignError as e:
        return {"error": str(e).splitlines()[0], "strategy": name}, "failed"
    payload = {
        "strategy": name,
        "labels": [int(x) for x in r["labels"]],
        "found": [int(x) for x in r["found"]],
        "seconds": r["seconds"],
        "start_size": len(start),
        "start_hits": int(r["found"][0]),
        "class_size": int((classes == unit.target_class).sum()),
        "scores_pool": bool(cls.scores_pool),
        "settings": _settings(cls, unit.seed, quick, train.space),
    }
    for k in ("precision", "coverage"):  # a generator strategy's draws, round by round
        if k in r:
            payload[k] = r[k]
    return payload, "ok"


def describe_campaign(payload: Mapping[str, Any], status: str) -> str:
    """The progress-line summary of one finished campaign unit."""
    if status != "ok":
        return f"FAILED: {payload['error']}"
    n = payload["class_size"]
    found = payload["found"][-1]
    share = f" ({found / n:.0%} of the class)" if n else ""
    return f"found {found:,}{share} after {payload['labels'][-1]:,} labels"


def describe_unit(unit: Unit, payload: Mapping[str, Any], status: str) -> str:
    """The progress-line summary of one finished unit of any experiment."""
    return (describe_campaign if is_campaign(unit) else describe)(payload, status)
