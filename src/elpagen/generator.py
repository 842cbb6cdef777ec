"""The generator interface every model implements (built-in or your own).

A generator is fitted on the DFT training set and then samples compositions for a
target energy class. Only two methods are required::

    class MyModel(Generator):
        name = "mine"
        def fit(self, train, target_class=None):
            self.space = train.space   # the composition space (set for you if you forget)
            ...            # learn from train.codes / train.classes; return self
            return self
        def propose(self, n, target_class, rng):
            ...            # n raw proposals: (n,) int codes, -1 where invalid
            return codes

``sample`` then draws until N *valid* compositions exist and counts the invalid
ones; it checks every ``propose`` result against the generator's space (``self.space``,
the training set's space, recorded at fit) (a :class:`GeneratorError`, one line naming the
generator, for anything but n int codes of compositions or -1). Optionally a generator
names one sampling knob (``knob``, ``knob_default``, ``knob_grid``, read by ``with_knob``)
that trades precision for coverage without refitting (``elpagen frontier`` sweeps it;
docs/design.md, "Frontiers").

Generators see only :class:`elpagen.data.TrainingSet`; they never read the
full-space reference energies (that would be training on the test set).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from elpagen import memory
from elpagen.data import TrainingSet, check_class
from elpagen.errors import InputError, UserError
from elpagen.seeds import sample_seed as sample_seed  # re-exported (older imports)
from elpagen.space import CompositionSpace

#: ``Generator.sample`` gives up once this many consecutive rounds, together holding at
#: least :data:`EMPTY_PROPOSALS` proposals, brought no valid composition: a valid fraction
#: below about one in a million is a broken model (damaged weights, a diverged fit), and
#: drawing on until ``max_rounds`` would take hours for nothing.
EMPTY_ROUNDS = 3
EMPTY_PROPOSALS = 1_000_000


@dataclass
class Samples:
    """N valid compositions in the order drawn, and how many proposals it took."""

    codes: np.ndarray  # (N,) composition codes (space.code_dtype), repeats kept
    n_drawn: int

    @property
    def n_valid(self) -> int:
        return len(self.codes)

    @property
    def n_invalid(self) -> int:
        return self.n_drawn - self.n_valid


@dataclass
class CompositionTable:
    """An exact distribution over compositions, drawn from in one vectorised step with no
    loop over samples: the RL agent's policy table, ``ar``'s likelihood table at large N."""

    codes: np.ndarray  # (m,) int32 compositions
    probs: np.ndarray  # (m,) float64, sums to 1
    cdf: np.ndarray  # cumulative probs, last entry exactly 1

    @classmethod
    def from_weights(cls, codes: np.ndarray, weights: np.ndarray) -> CompositionTable:
        """The table of ``codes`` with probabilities proportional to ``weights`` (>= 0)."""
        w = np.asarray(weights, dtype=np.float64)
        cdf = np.cumsum(w)
        cdf /= cdf[-1]
        return cls(np.asarray(codes, dtype=np.int32), w / w.sum(), cdf)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n i.i.d. compositions (int64 codes) in draw order."""
        if n >= len(self.codes):
            # Multinomial counts in a uniformly random order are exactly n i.i.d. draws, and
            # ~5x faster than n binary searches with their cache misses.
            out = np.repeat(self.codes.astype(np.int64), rng.multinomial(n, self.probs))
            rng.shuffle(out)
            return out
        i = np.searchsorted(self.cdf, rng.random(n), side="right")
        return self.codes[np.minimum(i, len(self.codes) - 1)].astype(np.int64)


class SamplingError(UserError, RuntimeError):
    """A generator produced (almost) no valid compositions."""


class GeneratorError(UserError, RuntimeError):
    """A generator broke the interface: ``propose`` returned something other than n int
    codes of compositions (or -1), or a generator of your own raised in ``fit`` or
    ``propose`` (:mod:`elpagen.harness.trial` says so). One line naming the generator."""


@functools.lru_cache(maxsize=8)
def _code_ok(space: CompositionSpace) -> np.ndarray:
    """True for every composition code of ``space``, False for the other grid points; one
    more True entry at the end, so that indexing with -1 (invalid) reads True."""
    return np.append(space.valid_grid_mask(), True)


def check_proposals(raw: Any, n: int, name: str, space: CompositionSpace) -> np.ndarray:
    """``raw`` as an array if it is what ``propose(n, ...)`` must return: shape (n,), an
    integer dtype, codes of compositions of ``space`` or -1; a one-line
    :class:`GeneratorError` naming the generator otherwise. Vectorised: one min, one max
    and one gather."""
    what = f"generator {name!r}: propose({n}, ...) returned"
    expected = f"expected ({n},) int codes (-1 for an invalid proposal)"
    if raw is None:
        raise GeneratorError(f"{what} None, {expected}")
    try:
        arr = np.asarray(raw)
    except (ValueError, TypeError):
        raise GeneratorError(f"{what} a {type(raw).__name__} that is not an array, "
                             f"{expected}") from None
    if arr.shape != (n,):
        raise GeneratorError(f"{what} shape {arr.shape}, {expected}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise GeneratorError(f"{what} {arr.dtype} values, {expected}")
    if n == 0:
        return arr
    n_grid = space.n_grid
    if int(arr.min()) < -1 or int(arr.max()) >= n_grid:
        bad = arr[(arr < -1) | (arr >= n_grid)]
        raise GeneratorError(
            f"{what} {len(bad):,} code(s) outside -1..{n_grid - 1}, e.g. {int(bad[0])}; "
            f"a composition's code is space.encode of its element indices, one per site of "
            f"the {space.name} space ({', '.join(space.site_names)})")
    ok = _code_ok(space)[arr]
    if not ok.all():
        bad = arr[~ok]
        raise GeneratorError(
            f"{what} {len(bad):,} code(s) of grid points that are not compositions of the "
            f"{space.name} space, e.g. {int(bad[0])} ({space.formula(bad[:1])[0]}); return -1 "
            "for an invalid proposal")
    return arr


class Generator(ABC):
    """Base class: ``fit`` on training data, ``sample`` N valid codes for a class."""

    name: str = "generator"
    #: True when one fit serves every target class (conditional models).
    conditional: bool = True
    #: The sampling knob (docs/design.md, "Frontiers"): the name of the one number that
    #: trades precision for coverage at sampling time, without refitting; None: no knob.
    #: Its value is the attribute of that name (see :meth:`with_knob`).
    knob: str | None = None
    #: The knob's default value: sampling at it is sampling as if there were no knob.
    knob_default: float | None = None
    #: The default grid of a frontier sweep (ascending; holds ``knob_default``).
    knob_grid: tuple[float, ...] = ()
    #: Whether 0 is an allowed knob value (else it must be positive).
    knob_allows_zero: bool = False
    #: The composition space of the fitted generator: ``train.space``, set at fit (models
    #: set it themselves; the base class records it after any ``fit`` that did not).
    space: CompositionSpace | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fit = cls.__dict__.get("fit")
        if fit is None or getattr(fit, "_records_space", False) or \
                getattr(fit, "__isabstractmethod__", False):
            return

        @functools.wraps(fit)
        def fit_and_record_space(self: Generator, train: TrainingSet, *args: Any,
                                 **kw: Any) -> Any:
            out = fit(self, train, *args, **kw)
            if getattr(self, "space", None) is None:
                self.space = getattr(train, "space", None)
            return out

        fit_and_record_space._records_space = True  # type: ignore[attr-defined]
        cls.fit = fit_and_record_space  # type: ignore[method-assign]

    @property
    def knob_value(self) -> float | None:
        """The current value of the knob (None when the generator has none); one line
        when ``knob`` names no number of the generator (a plug-in's slip)."""
        if self.knob is None:
            return None
        try:
            return float(getattr(self, self.knob))
        except AttributeError:
            raise GeneratorError(
                f"generator {self.name!r}: its knob {self.knob!r} names no attribute of it; "
                f"set {self.knob} in the class or in __init__ (docs/design.md, "
                "\"Frontiers\")") from None
        except (TypeError, ValueError):  # a knob that is not a name, a value not a number
            raise GeneratorError(f"generator {self.name!r}: its knob {self.knob!r} is not "
                                 "the name of a number it holds") from None

    def with_knob(self, value: float) -> Generator:
        """A copy that samples with the knob at ``value``; it shares the fitted state (no
        refit), and ``knob_default`` reproduces the samples of the original exactly."""
        v = self.check_knob(value)
        out = copy.copy(self)
        out.set_knob(v)
        return out

    @classmethod
    def check_knob(cls, value: float) -> float:
        """``value`` as a float if it is an allowed knob value; InputError otherwise."""
        if cls.knob is None:
            raise InputError(f"{cls.name} has no sampling knob")
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_))
        v = float(value) if ok else math.nan
        if not math.isfinite(v) or v < 0 or (v == 0 and not cls.knob_allows_zero):
            rng = ">= 0" if cls.knob_allows_zero else "> 0"
            raise InputError(f"{cls.name}: {cls.knob} must be a finite number {rng}, "
                             f"got {value!r}")
        return v

    def set_knob(self, value: float) -> None:
        """Set the knob in place (a generator whose knob lives elsewhere overrides this)."""
        setattr(self, str(self.knob), float(value))

    def _take_knob_of(self, other: Generator) -> None:
        """Describe ``other``'s knob as this generator's (wrappers whose knob is a member's:
        :class:`Mixture`, :class:`elpagen.models.ar.Guided`)."""
        self.knob, self.knob_default = other.knob, other.knob_default
        self.knob_grid, self.knob_allows_zero = other.knob_grid, other.knob_allows_zero

    @abstractmethod
    def fit(self, train: TrainingSet, target_class: int | None = None) -> Generator:
        """Learn from the training set; per-class models need ``target_class``."""

    @abstractmethod
    def propose(self, n: int, target_class: int, rng: np.random.Generator) -> np.ndarray:
        """n raw proposals as int codes, -1 for invalid ones (vectorised)."""

    def sample(
        self,
        n: int,
        target_class: int,
        seed: int = 0,
        *,
        max_rounds: int = 1000,
        progress: bool = False,
        space: CompositionSpace | None = None,
        timeout: float | None = None,
    ) -> Samples:
        """Draw until ``n`` valid compositions exist (invalid ones are counted).

        Proposals are checked against ``space`` (default: the generator's own, set at fit).
        ``timeout``: seconds sampling may go without a new valid composition (None: no
        limit; ``--timeout``): checked after every round, and while ``propose`` runs by an
        alarm where one can be set (:func:`_stall_limit`), so a ``propose`` that never
        returns stops too; then a :class:`SamplingError`.

        Raises :class:`~elpagen.memory.MemoryLimitError` up front when ``n`` samples cannot
        fit in the available memory, :class:`~elpagen.memory.OutOfMemoryError` when memory
        runs out anyway, and :class:`SamplingError` when no valid composition comes for
        :data:`EMPTY_ROUNDS` rounds (:data:`EMPTY_PROPOSALS` proposals) or ``max_rounds``
        rounds end short of ``n``.
        """
        check_class(target_class)
        if n <= 0:
            raise InputError(f"number of samples must be positive, got {n}")
        space = space if space is not None else self.space
        if not isinstance(space, CompositionSpace):
            raise GeneratorError(
                f"generator {self.name!r} has no composition space: fit it first (its fit "
                "sets self.space = train.space)")
        memory.check_fits(memory.sampling_bytes(n), f"{self.name}: drawing {n:,} samples",
                          "ask for fewer samples")
        if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
            raise InputError(f"the sampling time limit must be a number of seconds > 0, got "
                             f"{timeout!r}")
        rng = np.random.default_rng(seed)
        chunks: list[np.ndarray] = []
        have = drawn = 0
        since = time.monotonic()  # the last new valid composition (or the start)
        empty_rounds = empty_drawn = 0  # the current run of rounds without a valid proposal
        bar = _progress(n, f"sampling {self.name}", progress)
        try:
            for _ in range(max_rounds):
                need = n - have
                if need <= 0:
                    break
                # Ask for a bit more than needed, scaled by the observed valid rate.
                rate = have / drawn if drawn else 1.0
                ask = int(min(max(need / max(rate, 1e-3) * 1.05, 1024), memory.MAX_ROUND))
                if timeout is None:
                    proposed = self.propose(ask, target_class, rng)
                else:
                    with _stall_limit(self.name, timeout, since, have, n):
                        proposed = self.propose(ask, target_class, rng)
                raw = check_proposals(proposed, ask, self.name, space)
                drawn_before = drawn
                valid = raw[raw >= 0]
                if have + len(valid) > n:
                    # Keep the order of draws: cut at the n-th valid one, count proposals
                    # up to it.
                    cut = np.flatnonzero(raw >= 0)[n - have - 1] + 1
                    raw = raw[:cut]
                    valid = raw[raw >= 0]
                drawn = drawn_before + len(raw)
                chunks.append(valid.astype(space.code_dtype))
                have += len(valid)
                bar.update(len(valid))
                if len(valid):
                    empty_rounds = empty_drawn = 0
                    since = time.monotonic()
                    continue
                if timeout is not None and time.monotonic() - since > timeout:
                    raise SamplingError(_stalled(self.name, timeout, have, n, drawn))
                empty_rounds, empty_drawn = empty_rounds + 1, empty_drawn + len(raw)
                if empty_rounds >= EMPTY_ROUNDS and empty_drawn >= EMPTY_PROPOSALS:
                    raise SamplingError(
                        f"{self.name}: no valid composition in the last {empty_drawn:,} "
                        f"proposals ({empty_rounds} rounds; {have:,} of {n:,} valid so far); "
                        "the model is broken (damaged weights or a diverged fit?): retrain it"
                    )
        except MemoryError:
            raise memory.OutOfMemoryError(
                f"{self.name}: out of memory after {have:,} of {n:,} valid samples "
                f"({drawn:,} proposals); ask for fewer samples"
            ) from None
        finally:
            bar.close()
        if have < n:
            raise SamplingError(
                f"{self.name}: only {have} valid compositions after {drawn} proposals; "
                "the model is not producing valid compositions (train it longer?)"
            )
        try:
            codes = np.concatenate(chunks) if chunks else np.empty(0, space.code_dtype)
        except MemoryError:
            raise memory.OutOfMemoryError(
                f"{self.name}: out of memory collecting {n:,} samples; ask for fewer samples"
            ) from None
        return Samples(codes, drawn)

    @classmethod
    def fit_many(
        cls,
        train: TrainingSet,
        seeds: Sequence[int],
        target_class: int | None = None,
        **params,
    ) -> list[Generator]:
        """K independent fits, one per seed. Models override this with batched training."""
        return [cls(seed=s, **params).fit(train, target_class) for s in seeds]


class Mixture(Generator):
    """A seed ensemble, or any blend of fitted generators, sampled as one mixture.

    Each draw comes from member i with probability ``weights[i]`` (default: equal), so
    the mixture's distribution is the weighted mean of the members' distributions. With
    members of one kind (a seed ensemble) its knob is theirs, set on all of
    them at once; a blend of kinds has no knob. Fitting is the members' business
    (:func:`elpagen.harness.trial.fit` with ``ensemble=K``).
    """

    def __init__(self, members: Sequence[Generator],
                 weights: Sequence[float] | None = None) -> None:
        members = list(members)
        if not members:
            raise InputError("a mixture needs at least one fitted generator")
        w = np.full(len(members), 1.0) if weights is None else np.asarray(weights, float)
        if w.shape != (len(members),) or not np.isfinite(w).all() or (w < 0).any() \
                or w.sum() <= 0:
            raise InputError(f"mixture weights must be {len(members)} non-negative numbers "
                             f"with a positive sum, got {weights!r}")
        self.members, self.weights = members, w / w.sum()
        first = members[0]
        one_kind = len({type(m) for m in members}) == 1
        self.name = (f"{first.name}x{len(members)}" if one_kind
                     else "+".join(m.name for m in members))
        self.conditional = all(m.conditional for m in members)
        if one_kind:
            self._take_knob_of(first)

    @property
    def knob_value(self) -> float | None:
        return None if self.knob is None else self.members[0].knob_value

    @property  # type: ignore[override]
    def space(self) -> CompositionSpace | None:
        """The members' space (they are fitted on one training set)."""
        return self.members[0].space

    @space.setter
    def space(self, value: CompositionSpace | None) -> None:
        pass  # the members carry it

    def check_knob(self, value: float) -> float:  # type: ignore[override]
        if self.knob is None:
            raise InputError(f"{self.name} blends generators of several kinds: it has no knob")
        return type(self.members[0]).check_knob(value)

    def with_knob(self, value: float) -> Mixture:
        self.check_knob(value)
        return Mixture([m.with_knob(value) for m in self.members], self.weights)

    def set_knob(self, value: float) -> None:
        for m in self.members:
            m.set_knob(value)

    def fit(self, train: TrainingSet, target_class: int | None = None) -> Mixture:
        for m in self.members:
            m.fit(train, target_class)
        return self

    def propose(self, n: int, target_class: int, rng: np.random.Generator) -> np.ndarray:
        # Vectorised over members: one multinomial split, one propose call per member,
        # then a shuffle so the order of draws does not reveal the member.
        counts = rng.multinomial(n, self.weights)
        parts = [m.propose(int(c), target_class, rng)
                 for m, c in zip(self.members, counts, strict=True) if c]
        out = np.concatenate(parts) if parts else np.empty(0, np.int64)
        return out[rng.permutation(len(out))]


class _ProposeTimeout(BaseException):  # not an Exception: a plug-in's except keeps out
    """Raised by the alarm of :func:`_stall_limit` in a ``propose`` that ran too long."""


def _stalled(name: str, timeout: float, have: int, n: int, drawn: int) -> str:
    return (f"{name}: no new valid composition in {timeout:g} s ({have:,} of {n:,} valid so "
            f"far, {drawn:,} proposals): stopped by --timeout; is propose stuck?")


@contextlib.contextmanager
def _stall_limit(name: str, timeout: float, since: float, have: int,
                 n: int) -> Iterator[None]:
    """The time ``propose`` has left (``timeout`` after ``since``, the last new valid
    composition): a SIGALRM interrupts it then, with a :class:`SamplingError`. Only where an
    alarm can be set: the main thread of a POSIX process (the command line, a benchmark's
    worker process) with no other timer running; elsewhere the check after each round is
    the limit. A ``propose`` stuck in C code that holds the GIL is interrupted only when it
    returns to Python."""
    left = max(timeout - (time.monotonic() - since), 0.01)  # the round's check came first
    if not hasattr(signal, "setitimer") or threading.current_thread() is not \
            threading.main_thread() or signal.getitimer(signal.ITIMER_REAL)[0] != 0:
        yield
        return

    def ring(signum: int, frame: Any) -> None:
        raise _ProposeTimeout

    before = signal.signal(signal.SIGALRM, ring)
    try:
        signal.setitimer(signal.ITIMER_REAL, left)
        yield
    except _ProposeTimeout:
        raise SamplingError(f"{name}: propose did not return within {timeout:g} s ({have:,} "
                            f"of {n:,} valid so far): stopped by --timeout") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)


def _progress(total: int, desc: str, enabled: bool):
    from elpagen import progress

    return progress.bar(total, desc, "sample", enabled, unit_scale=True)
