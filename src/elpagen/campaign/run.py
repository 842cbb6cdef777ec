"""The rounds of a discovery campaign and their summaries (docs/design.md, "Discovery campaigns").

Per seed: one start set (the same for every strategy), then for each strategy a fresh
:class:`~elpagen.campaign.labeller.Labeller` and rounds of ``batch`` labels until
``budget`` labels are bought. ``found`` counts target-class compositions (true,
noise-free classes) among the start set and the labels bought so far.

``truth_residual`` (``--truth-residual SIGMA``) makes the truth rougher than the reference
energies: a fixed residual r ~ N(0, SIGMA) per composition (equal on symmetry twins, the
same crystal), drawn once per seed (:func:`seed_truth`). The labeller tells reference + r
(+ the per-label noise) and the scoring counts the classes of reference + r (the training
set's class bounds), so the class size differs per seed: summaries use each seed's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from elpagen import seeds
from elpagen.campaign import catalogue
from elpagen.campaign import strategies as strat
from elpagen.campaign.labeller import CampaignError, Labeller
from elpagen.data import TrainingSet, check_class
from elpagen.space import CompositionSpace

#: Fractions of the class whose labels-to-reach are summarised.
FRACTIONS = (0.25, 0.5, 0.9)
#: Labels after which ``found`` is reported (those within the budget).
CHECKPOINTS = (1_000, 2_000, 4_000, 5_000, 10_000, 20_000)
#: The tag of a seed's start-set stream (:func:`elpagen.seeds.stream`).
START_STREAM = 11
#: The tag of a seed's truth-residual stream (:func:`seed_truth`).
RESIDUAL_STREAM = "truth-residual"


@dataclass(frozen=True)
class CampaignConfig:
    strategies: tuple[str, ...] = strat.DEFAULT
    target_class: int = 1
    start: str = "1000"  # N random compositions, "train" or "train:N"
    batch: int = 500
    budget: int = 10_000
    seeds: tuple[int, ...] = (0,)
    pool: int | None = None
    label_noise: float = 0.0
    quick: bool = False
    truth_residual: float = 0.0  # sigma (eV/atom) of the fixed per-composition residual
    names: tuple[str, ...] = field(default=(), compare=False)  # resolved in check()

    def check(self, train: TrainingSet) -> CampaignConfig:
        """Every option checked before any work; one line for the first bad one."""
        check_class(self.target_class)
        if self.batch < 1 or self.budget < 1:
            raise CampaignError(f"--batch and --budget must be 1 or more, got {self.batch} "
                                f"and {self.budget}")
        if self.batch > self.budget:
            raise CampaignError(f"--batch {self.batch} is larger than --budget {self.budget}")
        if self.pool is not None and self.pool < self.batch:
            raise CampaignError(f"--pool {self.pool} must be at least --batch {self.batch}")
        if not np.isfinite(self.label_noise) or self.label_noise < 0:
            raise CampaignError(f"--label-noise must be >= 0, got {self.label_noise}")
        if not np.isfinite(self.truth_residual) or self.truth_residual < 0:
            raise CampaignError(f"--truth-residual must be a number >= 0, got "
                                f"{self.truth_residual}")
        if not self.seeds:
            raise CampaignError("give at least one seed")
        kind, size = start_spec(self.start, train)
        n_space = train.space.n_space
        if kind == "random" and size + self.budget > n_space:
            raise CampaignError(f"--start {size} plus --budget {self.budget} exceed the "
                                f"{n_space:,} compositions of the space")
        names = [strat.resolve(s)[0] for s in self.strategies]
        if len(set(names)) != len(names) or not names:
            raise CampaignError(f"--strategies: give distinct strategies, got {self.strategies}")
        return CampaignConfig(**{**self.__dict__, "names": tuple(names)})


def start_spec(text: str, train: TrainingSet) -> tuple[str, int]:
    """("random", N) or ("train", N) from ``--start``."""
    t = str(text).strip()
    if t == "train":
        return "train", len(train)
    kind, _, n = t.partition(":") if t.startswith("train:") else ("random", "", t)
    try:
        size = int(n)
    except ValueError:
        raise CampaignError(f"--start expects N, train or train:N, got {text!r}") from None
    if size < 1:
        raise CampaignError(f"--start must be 1 or more, got {size}")
    if kind == "train" and size > len(train):
        raise CampaignError(f"--start train:{size} is larger than the training set "
                            f"({len(train):,} compositions)")
    return kind, size


def start_codes(text: str, train: TrainingSet, seed: int, all_codes: np.ndarray) -> np.ndarray:
    kind, size = start_spec(text, train)
    if kind == "train":
        sub = train if size >= len(train) else train.subset(size, seed)
        return np.asarray(sub.codes, dtype=np.int64)
    rng = np.random.default_rng(seeds.stream(seed, START_STREAM))
    return all_codes[rng.choice(len(all_codes), size=size, replace=False)].astype(np.int64)


def seed_truth(energies: np.ndarray, classes: np.ndarray, train: TrainingSet, sigma: float,
               seed: int, space: CompositionSpace) -> tuple[np.ndarray, np.ndarray]:
    """The truth of a campaign seed: (energies, classes) over the grid of ``space``.

    ``sigma`` 0: the reference's own arrays, untouched. Otherwise reference + r with r ~
    N(0, sigma) fixed per composition, drawn once per seed from its own stream on the
    canonical code (twins, images under the space's symmetries, are one crystal: one r),
    and the classes of that energy by the training set's bounds on the compositions with a
    reference value (class 0 stays 0). Unlike label noise, no number of labels averages it
    away.
    """
    if sigma == 0:
        return energies, classes
    grid = np.arange(space.n_grid, dtype=space.code_dtype)
    rng = np.random.default_rng(seeds.stream(seed, RESIDUAL_STREAM))
    residual = rng.normal(0.0, sigma, size=space.n_grid)[space.canonical(grid)]
    rough = np.asarray(energies, dtype=np.float64) + residual
    classes = np.asarray(classes)
    cls = np.zeros_like(classes)
    has = classes > 0  # no class (nor energy) off the compositions with a reference value
    cls[has] = train.energy_classes.assign(rough[has])
    return rough, cls


def run_one(name: str, cls: type[strat.Strategy], energies: np.ndarray, classes: np.ndarray,
            train: TrainingSet, config: CampaignConfig, seed: int, start: np.ndarray,
            all_codes: np.ndarray, *, space: CompositionSpace | None = None
            ) -> dict[str, Any]:
    """One strategy, one seed: the found curve. ``space``: the reference energies' space
    (``ref.space``; default ``train.space``), which must be the training set's."""
    t0 = time.perf_counter()
    space = campaign_space(train, space)
    energies, classes = seed_truth(energies, classes, train, config.truth_residual, seed, space)
    lab = Labeller(energies, classes, config.label_noise, seed, space=space)
    told, truth = lab.label(start, "start", start=True)
    codes, energies_told = [start], [told]
    found = [int((truth == config.target_class).sum())]
    labels = [0]
    n_class = int((classes == config.target_class).sum())
    quality: dict[str, list[float]] = {"precision": [], "coverage": []}
    from elpagen.harness.trial import user_code

    def own(stage: str) -> Any:  # a strategy of your own that raises or exits: one line
        return user_code(name, stage, cls.__module__.startswith("elpagen."), what="strategy",
                         error=CampaignError)

    with own(f"{cls.__name__}(seed={seed})"):
        s = cls(seed=seed, quick=config.quick)
    s.space = space  # before begin: a strategy of your own may override begin(c, bounds)
    s.labellable = classes > 0  # the compositions with a reference value (all, but a table's)
    with own("begin"):
        s.begin(config.target_class, train.energy_classes)
    rng = np.random.default_rng(seeds.stream(seed, name))  # the strategy's own stream
    while lab.n_bought < config.budget:
        b = min(config.batch, config.budget - lab.n_bought)
        unl = all_codes[~lab.labelled_mask[all_codes]]
        if config.pool is not None and config.pool < len(unl):
            unl = unl[np.sort(rng.choice(len(unl), size=config.pool, replace=False))]
        lc, le = np.concatenate(codes), np.concatenate(energies_told)
        lc.flags.writeable = le.flags.writeable = False
        with own("propose"):
            got = np.asarray(s.propose(lc, le, b, rng, unl))
        if got.shape != (b,):
            raise CampaignError(f"strategy {name!r} proposed {got.shape} codes; asked for {b}")
        if getattr(s, "last_proposals", None) is not None:  # a generator's draws this round
            for k, v in proposal_quality(s.last_proposals, classes, config.target_class,
                                         n_class).items():
                quality[k].append(v)
        told, truth = lab.label(got, name)
        codes.append(got.astype(np.int64))
        energies_told.append(told)
        labels.append(lab.n_bought)
        found.append(found[-1] + int((truth == config.target_class).sum()))
    out: dict[str, Any] = {"seed": seed, "labels": labels, "found": found,
                           "seconds": round(time.perf_counter() - t0, 2)}
    if config.truth_residual > 0:  # the class size of this seed's truth
        out["n_class"] = n_class
    if hasattr(s, "fallback_rounds"):  # generator strategies: rounds without a class member
        out["fallback_rounds"] = int(s.fallback_rounds)
    if quality["precision"]:  # generator strategies: the quality of each round's draws
        out.update(quality)
    return out


def proposal_quality(proposals: np.ndarray, classes: np.ndarray, target_class: int,
                     n_class: int) -> dict[str, float]:
    """Precision (share of the valid draws in the target class) and coverage (distinct
    target-class compositions among them / the class size) of one round's generator draws,
    scored here, by the harness, against the reference classes the strategy never sees."""
    p = np.asarray(proposals, dtype=np.int64)
    p = p[p >= 0]
    p = p[classes[p] > 0]  # valid compositions only (0: a grid point with a repeated element)
    hit = p[classes[p] == target_class]
    return {"precision": round(float(len(hit) / len(p)), 6) if len(p) else 0.0,
            "coverage": round(float(len(np.unique(hit)) / n_class), 6) if n_class else 0.0}


def labels_to(labels: list[int], found: list[int], target: float) -> int | None:
    for lab, f in zip(labels, found, strict=True):
        if f >= target:
            return lab
    return None


def found_at(labels: list[int], found: list[int], at: int) -> int:
    """Found after ``at`` labels (the last round at or before it)."""
    i = int(np.searchsorted(np.asarray(labels), at, side="right")) - 1
    return found[max(i, 0)]


def auc(labels: list[int], found: list[int], n_class: int) -> float:
    """Area under found / N_c over the bought labels (steps), divided by the ideal's."""
    lab, f = np.asarray(labels, float), np.asarray(found, float)
    ideal = np.minimum(f[0] + lab, n_class)
    widths = np.diff(lab)
    got, best = (f[1:] * widths).sum(), (ideal[1:] * widths).sum()
    return float(got / best) if best > 0 else 1.0


def _stat(values: list[float | None]) -> dict[str, float] | None:
    if not values or any(v is None for v in values):
        return None
    a = np.asarray(values, dtype=float)
    return {"mean": float(a.mean()), "std": float(a.std())}


def summarise(runs: list[dict[str, Any]], n_class: int | Sequence[int], budget: int
              ) -> dict[str, Any]:
    """Means and spreads over the seeds' runs; ``n_class``: the class size, or one per run
    (a rougher truth's classes differ per seed)."""
    sizes = [n_class] * len(runs) if isinstance(n_class, (int, np.integer)) else list(n_class)
    out: dict[str, Any] = {"found_final": _stat([r["found"][-1] for r in runs])}
    for frac in FRACTIONS:
        out[f"labels_to_{round(frac * 100)}"] = _stat(
            [labels_to(r["labels"], r["found"], frac * n) for r, n in zip(runs, sizes,
                                                                          strict=True)])
    out["found_at"] = {str(at): _stat([found_at(r["labels"], r["found"], at) for r in runs])
                       for at in CHECKPOINTS if at <= budget}
    out["auc"] = _stat([auc(r["labels"], r["found"], n)
                        for r, n in zip(runs, sizes, strict=True)])
    out["seconds"] = _stat([r["seconds"] for r in runs])
    return out


def expectations(n_class: float, start_hits: float, n_start: int, budget: int,
                 batch: int, *, n_space: int) -> dict[str, Any]:
    """Random's exact expectation (hypergeometric) and the ideal, on the rounds' labels
    (``n_space``: the number of compositions of the space)."""
    labels = list(range(0, budget, batch)) + [budget]
    rate = (n_class - start_hits) / (n_space - n_start)
    return {"random": {"labels": labels, "found": [start_hits + lab * rate for lab in labels]},
            "ideal": {"labels": labels,
                      "found": [min(start_hits + lab, n_class) for lab in labels]}}


def campaign_space(train: TrainingSet, space: CompositionSpace | None) -> CompositionSpace:
    """The campaign's space: the reference energies' (``space``), else the training set's;
    a one-line :class:`CampaignError` when the two differ."""
    if space is None:
        return train.space
    if space != train.space:
        raise CampaignError(f"the reference energies cover the {space.name} space, the "
                            f"training set the {train.space.name} space; build the reference "
                            "energies from this training set")
    return space


def run_campaign(energies: np.ndarray, classes: np.ndarray, train: TrainingSet,
                 config: CampaignConfig, log: Callable[[str], None] | None = None,
                 *, space: CompositionSpace | None = None) -> dict[str, Any]:
    """Every strategy and seed of ``config`` (checked here); the results document.

    ``energies``, ``classes``: the reference energies and classes over the grid of
    ``space`` (pass ``ref.space``; default: ``train.space``, the space they were built on).
    """
    from elpagen import machine

    config = config.check(train)
    space = campaign_space(train, space)
    # The compositions that can be labelled: those with a reference value (every
    # composition of the space, but for a table space without a value for some).
    all_codes = np.flatnonzero(np.asarray(classes) > 0).astype(np.int64)
    resolved = [strat.resolve(s) for s in config.strategies]
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n, _ in resolved}
    start_hits, n_start, n_classes = [], 0, []
    for seed in config.seeds:
        start = start_codes(config.start, train, seed, all_codes)
        n_start = len(start)
        # The seed's truth (the reference's own without a residual); run_one draws the same.
        _, truth = seed_truth(energies, classes, train, config.truth_residual, seed, space)
        n_class = int((truth == config.target_class).sum())
        n_classes.append(n_class)
        start_hits.append(int((truth[start] == config.target_class).sum()))
        del truth
        for name, cls in resolved:
            r = run_one(name, cls, energies, classes, train, config, seed, start, all_codes,
                        space=space)
            runs[name].append(r)
            if log:
                log(f"campaign: {name} seed {seed}: found {r['found'][-1]} of {n_class} after "
                    f"{r['labels'][-1]:,} labels ({r['seconds']:.0f} s)")
    out: dict[str, Any] = {
        "target": train.target,  # energy, or stable: E_hull <= 0.025 eV/atom (elpagen.data)
        "target_class": config.target_class, "n_class": n_class, "n_space": len(all_codes),
        "start": {"spec": config.start, "size": n_start, "hits": start_hits},
        "batch": config.batch, "budget": config.budget, "pool": config.pool,
        "label_noise": config.label_noise, "seeds": list(config.seeds), "quick": config.quick,
        "truth_residual": config.truth_residual,
        "strategies": {}, "machine": machine.environment(),
    }
    if config.truth_residual > 0:  # a rougher truth: each seed's class size, their mean
        out["n_class"] = round(float(np.mean(n_classes)), 1)
        out["n_class_seeds"] = n_classes
    for name, cls in resolved:
        s = cls(seed=config.seeds[0], quick=config.quick)
        s.space = space
        out["strategies"][name] = {
            "settings": s.settings(), "scores_pool": cls.scores_pool,
            "seeds": runs[name], "summary": summarise(runs[name], n_classes, config.budget)}
    # One class size (no residual): the same int as ever; else the seeds' mean.
    n_exp = n_classes[0] if len(set(n_classes)) == 1 else float(np.mean(n_classes))
    out["expected"] = expectations(n_exp, float(np.mean(start_hits)), n_start,
                                   config.budget, config.batch, n_space=len(all_codes))
    return out


def table(result: dict[str, Any]) -> str:
    """A markdown table of the summaries."""
    cps = list(next(iter(result["strategies"].values()))["summary"]["found_at"])

    def fmt(st: dict[str, float] | None, digits: int = 0) -> str:
        if st is None:
            return "—"
        return f"{st['mean']:,.{digits}f} ± {st['std']:,.{digits}f}"

    head = (["strategy"] + [f"found @{int(c):,}" for c in cps]
            + ["final", "labels to 25 %", "to 50 %", "to 90 %", "AUC/ideal"])
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    family = [n for n in result["strategies"] if (s := catalogue.find(n)) is not None
              and s.uses_reference_model_family]
    for name, rec in result["strategies"].items():
        sm = rec["summary"]
        rows.append("| " + " | ".join(
            [name + (" †" if name in family else "")] + [fmt(sm["found_at"][c]) for c in cps]
            + [fmt(sm["found_final"]), fmt(sm["labels_to_25"]), fmt(sm["labels_to_50"]),
               fmt(sm["labels_to_90"]), fmt(sm["auc"], 3)]) + " |")
    size = f"{result['n_class']:,.1f}".removesuffix(".0") + " compositions"
    if len(result.get("n_class_seeds") or ()) > 1:  # a rougher truth: each seed's own class
        size += f" on average (per seed {result['n_class_seeds']})"
    truth = (f"; truth residual {result['truth_residual']} eV/atom (fixed per composition)"
             if result.get("truth_residual") else "")
    rows.append(f"\nclass {result['target_class']}: {size}; start "
                f"{result['start']['spec']} ({result['start']['size']:,}, hits "
                f"{result['start']['hits']}); batch {result['batch']}, budget "
                f"{result['budget']:,}, pool {result['pool'] or 'whole space'}, label noise "
                f"{result['label_noise']}{truth}; seeds {result['seeds']}")
    if family:
        rows.append("† ranks with a kernel ridge of the reference energies' own family (a "
                    "Laplacian kernel on the sites' periods and groups): favoured by "
                    "construction where the truth is that model")
    return "\n".join(rows)
