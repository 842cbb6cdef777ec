"""Generator strategies: a generator refit on the labelled set each round buys its most
frequent unlabelled proposals; ``static``, the published train-once procedure."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from elpagen.campaign import catalogue as strategy_catalogue
from elpagen.campaign.base import (
    Strategy,
    StrategyError,
    draw_sites,
    fill,
    most_frequent,
    site_probabilities,
    top,
)
from elpagen.data import TrainingSet
from elpagen.errors import InputError
from elpagen.space import CompositionSpace


class SiteMarginals:
    """A generator without a class: independent per-site draws from the element
    frequencies of given compositions (invalid draws are -1). The fallback of the
    generator strategies while the labelled set holds too few of the target class."""

    def __init__(self, codes: np.ndarray, smoothing: float, space: CompositionSpace) -> None:
        self.space = space
        self.probs = site_probabilities(codes, smoothing, space)

    def propose(self, n: int, target_class: int, rng: np.random.Generator) -> np.ndarray:
        el = draw_sites(self.probs, n, rng, self.space)
        return np.where(self.space.is_valid(el), self.space.encode(el).astype(np.int64), -1)


class GeneratorStrategy(Strategy):
    """Refit a generator on the labelled set each round (a :class:`TrainingSet` with the
    campaign's class bounds: classes of the energies as told) and buy its ``batch`` most
    frequent unlabelled proposals among ``samples`` draws; a shortfall is filled from the
    pool at random.

    While fewer than ``min_members`` labelled compositions are told in the target class
    (a class-10 start set of 1,000 random compositions holds 0-2), a generator
    conditioned on that class has nothing to learn from: the round draws instead from
    the per-site marginals of the ``fallback_elite`` best labelled compositions for the
    class (``fallback_smoothing`` pseudo-counts), :class:`SiteMarginals`."""

    scores_pool = False
    samples = 100_000
    min_members = 1
    fallback_elite = 100
    fallback_smoothing = 0.2

    def __init__(self, seed: int = 0, quick: bool = False) -> None:
        super().__init__(seed, quick)
        self.fallback_rounds = 0
        self.last_proposals: np.ndarray | None = None

    def generator(self, train: TrainingSet) -> Any:
        raise NotImplementedError

    def fallback_settings(self) -> dict[str, Any]:
        return {"min_members": self.min_members, "fallback_elite": self.fallback_elite,
                "fallback_smoothing": self.fallback_smoothing}

    def fitted(self, labelled_codes: np.ndarray, labelled_energies: np.ndarray) -> Any:
        """The generator of this round: fitted on the labelled set, or the fallback."""
        train = self.labelled_set(labelled_codes, labelled_energies)
        if int((train.classes == self.target_class).sum()) < self.min_members:
            self.fallback_rounds += 1
            best = top(np.asarray(labelled_codes), self.key(labelled_energies),
                       self.fallback_elite)
            return SiteMarginals(best, self.fallback_smoothing, train.space)
        return self.generator(train)

    def propose(self, labelled_codes, labelled_energies, batch, rng, pool):
        gen = self.fitted(labelled_codes, labelled_energies)
        labelled = self.unavailable(labelled_codes)
        n = 5_000 if self.quick else self.samples
        # Kept for the harness, which scores each round's draws (precision, coverage)
        # against the reference classes; the strategy itself never sees them scored.
        self.last_proposals = gen.propose(n, self.target_class, rng)
        chosen = most_frequent(self.last_proposals, labelled, batch, rng)
        return fill(chosen, pool, batch, rng)


class MarginalStrategy(GeneratorStrategy):
    """The per-site marginal sampler (p(Z | site, target class) of the labelled set, with
    ``smoothing`` pseudo-counts per element)."""

    name = "marginal"
    smoothing = 0.1

    def settings(self):
        return {"smoothing": self.smoothing, "samples": self.samples,
                **self.fallback_settings()}

    def generator(self, train):
        from elpagen.baselines import MarginalSampler

        return MarginalSampler(self.seed, smoothing=self.smoothing).fit(train)


class CatalogueStrategy(GeneratorStrategy):
    """A catalogue generator (``model``) refit from scratch each round on the labelled set
    (no warm start: every round is a fresh fit with the strategy's seed), with the fast
    protocol and the small per-round budget of the strategy's record (``refit``;
    ``--quick``: the model's quick settings and the record's ``quick``), on the CPU. A
    generator trained per class (rl) is fitted for the target class."""

    model: ClassVar[str] = ""
    samples = 50_000

    def __init__(self, seed: int = 0, quick: bool = False) -> None:
        super().__init__(seed, quick)
        self.overrides = self.model_overrides()

    def model_overrides(self) -> dict[str, Any]:
        from elpagen import catalogue

        refit = strategy_catalogue.refit(type(self), self.quick)
        return {**catalogue.get(self.model).quick, **refit} if self.quick else refit

    def settings(self):
        return {"protocol": "fast", "refit": "from scratch each round", **self.overrides,
                "samples": self.samples, **self.fallback_settings()}

    def generator(self, train):
        return fit_catalogue(self.model, train, self.seed, self.target_class, self.overrides)


def fit_catalogue(model: str, train: TrainingSet, seed: int, target_class: int,
                  overrides: dict[str, Any]) -> Any:
    """The catalogue generator ``model`` fitted on ``train`` by the harness's one fit
    (:func:`elpagen.harness.trial.fit_one`): the fast protocol + ``overrides`` for a
    configured model, torch models on the CPU, a per-class model for ``target_class``; a
    generator of your own that raises stops the campaign with one line naming it."""
    from elpagen import catalogue
    from elpagen.harness.trial import fit_one

    per_class = not catalogue.get(model).conditional
    return fit_one(model, train, seed, target_class if per_class else None, protocol="fast",
                   overrides=overrides, device="cpu")


class ARStrategy(CatalogueStrategy):
    """The autoregressive model (:class:`~elpagen.models.ar.ARModel`), refit each round
    with a small step budget on the labelled set (class-balanced batches; 300 steps)."""

    name = "ar"
    model = "ar"


class VAEStrategy(CatalogueStrategy):
    """The conditional VAE, refit each round (500 steps of the fast protocol's 2,250)."""

    name = "vae"
    model = "vae"


class GANStrategy(CatalogueStrategy):
    """The conditional WGAN-GP, refit each round (300 generator updates, 5 critic updates
    each, of the fast protocol's 3,000)."""

    name = "gan"
    model = "gan"


class RLStrategy(CatalogueStrategy):
    """The offline DQN agent (trained for the target class), refit each round (1,000
    updates of the fast protocol's 10,000; the policy table for sampling)."""

    name = "rl"
    model = "rl"


class GFNStrategy(CatalogueStrategy):
    """The GFlowNet, refit each round; its reward regressor is refit on the labels (as told)
    each round too (300 policy updates of 1,500, 1,500 regressor updates of 6,000)."""

    name = "gfn"
    model = "gfn"


class StaticStrategy(Strategy):
    """The published procedure: a generator (``model``: per-site marginals by default,
    ``static:MODEL`` for any catalogue generator with its fast settings, ``--quick``: its
    quick ones) trained once on the start set, one sample of ``samples`` draws; each round
    buys the most frequent unlabelled compositions of that sample, never refitting and
    never looking at the labels it bought. Once the sample's distinct compositions are
    spent the rest of each batch is drawn from the pool at random. A start set with no
    composition told in the target class trains the fallback of :class:`GeneratorStrategy`
    instead."""

    name = "static"
    model: ClassVar[str] = "marginal"
    scores_pool = False
    samples = 1_000_000
    torch_samples = 200_000
    smoothing = 0.1  # the marginal's pseudo-counts, as in ``marginal``

    def __init__(self, seed: int = 0, quick: bool = False) -> None:
        super().__init__(seed, quick)
        self.ranked: np.ndarray | None = None
        self.fallback = False

    def n_samples(self) -> int:
        if self.quick:
            return 5_000
        return self.samples if self.model == MarginalStrategy.name else self.torch_samples

    def settings(self):
        from elpagen import catalogue

        over = {"smoothing": self.smoothing} if self.model == MarginalStrategy.name else (
            catalogue.get(self.model).quick if self.quick else {})
        return {"model": self.model, "protocol": "fast", **over, "samples": self.n_samples(),
                "refit": "never (trained once on the start set)",
                "fallback": "per-site marginals of the start set's 100 best when it holds "
                            "no composition told in the class"}

    def train_once(self, labelled_codes: np.ndarray, labelled_energies: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
        """The sample's distinct valid codes, most frequent first."""
        from elpagen import catalogue

        train = self.labelled_set(labelled_codes, labelled_energies)
        if not (train.classes == self.target_class).any():
            self.fallback = True
            best = top(np.asarray(labelled_codes), self.key(labelled_energies),
                       GeneratorStrategy.fallback_elite)
            gen: Any = SiteMarginals(best, GeneratorStrategy.fallback_smoothing, train.space)
        elif self.model == MarginalStrategy.name:
            from elpagen.baselines import MarginalSampler

            gen = MarginalSampler(self.seed, smoothing=self.smoothing).fit(train)
        else:
            over = dict(catalogue.get(self.model).quick) if self.quick else {}
            gen = fit_catalogue(self.model, train, self.seed, self.target_class, over)
        n_grid = train.space.n_grid
        none = np.zeros(n_grid, dtype=bool)
        return most_frequent(gen.propose(self.n_samples(), self.target_class, rng), none,
                             n_grid, rng)

    def propose(self, labelled_codes, labelled_energies, batch, rng, pool):
        if self.ranked is None:  # the first round: the labelled set is the start set
            self.ranked = self.train_once(labelled_codes, labelled_energies, rng)
        labelled = np.zeros(self.the_space().n_grid, dtype=bool)
        labelled[labelled_codes] = True
        left = self.ranked[~labelled[self.ranked]]
        self.ranked = left  # bought ones never come back: keep the list short
        return fill(left[:batch], pool, batch, rng)


#: ``static:MODEL`` classes, made on first use (a module attribute, so that they pickle).
_STATIC_PREFIX = "StaticStrategy_"


def static_strategy(model: str) -> type[StaticStrategy]:
    """The :class:`StaticStrategy` of catalogue generator ``model`` (checked: one line)."""
    from elpagen import catalogue

    try:
        spec = catalogue.get(model)
    except InputError as e:
        raise StrategyError(f"strategy 'static:{model}': {e}") from None
    if spec.name == MarginalStrategy.name:
        return StaticStrategy
    attr = _STATIC_PREFIX + model.encode().hex()
    cls = globals().get(attr)
    if cls is None:
        cls = type(attr, (StaticStrategy,), {
            "name": f"static:{spec.name}", "model": spec.name, "__module__": __name__,
            "__doc__": f"The published train-once procedure with {spec.name}."})
        globals()[attr] = cls
    return cls


def __getattr__(attr: str) -> Any:
    """Remake a ``static:MODEL`` class by its module attribute (unpickling elsewhere)."""
    if attr.startswith(_STATIC_PREFIX):
        try:
            model = bytes.fromhex(attr[len(_STATIC_PREFIX):]).decode()
        except ValueError:
            model = ""
        if model:
            return static_strategy(model)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


