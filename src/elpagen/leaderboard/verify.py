"""Submissions scored again: every headline metric recomputed from the generations a file
carries, against this machine's reference of the space (and target) it names.

The reference comes through :mod:`elpagen.truth` as for ``benchmark``: the space's data
file (``--data``, its environment variable, or the fetched copy: never downloaded here),
the training set the file says the models saw (its size and sha256), and the reference
energies (cached, else built and cached). A file whose stated numbers (per seed, and the
mean and standard deviation over seeds) differ from the recomputed ones by more than
rounding (:data:`elpagen.submission.checks.REL_TOL`) is refused, naming the file and the
number. A file without generations, or whose space's data are not here, is *unverified*:
listed, ranked below every verified entry.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from elpagen import generations, metrics, spaces
from elpagen.errors import InputError
from elpagen.submission import COUNTS, HEADLINE, Submission, training_sha256
from elpagen.submission.checks import close, mean_std


class VerificationError(InputError):
    """A submission whose numbers are not those of its generations (or whose generations
    cannot be scored here)."""


@dataclass(frozen=True)
class Verdict:
    """Whether an entry's numbers were recomputed from its samples, and if not, why."""

    verified: bool
    note: str = ""

    @property
    def label(self) -> str:
        return "yes" if self.verified else f"no ({self.note})" if self.note else "no"


@dataclass
class _Scorer:
    """What scores the samples of one space, target and training set."""

    space: Any
    classes: np.ndarray
    train_codes: np.ndarray
    fingerprint: str
    train_sha256: str


@dataclass
class Referees:
    """This machine's references, built once per (space, target, training size).
    ``data``: the elpasolite's DFT file (``--data``); ``space_files``: space files that
    name spaces other than the built-in ones; ``log``: notes (building the reference)."""

    data: str | None = None
    verify_data: bool = True
    cache_dir: str | None = None
    space_files: Sequence[str] = ()
    log: Callable[[str], None] | None = None
    _made: dict[tuple, _Scorer | str] = field(default_factory=dict)

    def _truth(self, sub: Submission) -> Any:
        from elpagen import truth

        name, target = sub.task.space, sub.task.target
        for f in self.space_files:
            t = truth.resolve(f, target=target)
            if t.space.name == name:
                return t
        if name not in spaces.names():
            return None
        return truth.resolve(name, target=target)

    def local_data(self, t: Any) -> str | None:
        """The space's data file when it is on this machine (None: it would be fetched)."""
        from elpagen import data, fetch

        if t.data is None:  # the elpasolite's DFT file
            p = self.data or os.environ.get(data.ENV_VAR) or None
            if p is None:
                stored = fetch.fetched_path()
                return str(stored) if stored.is_file() else None
            return str(p)
        if t.published is not None:
            p = os.environ.get(t.published.env_var) or None
            stored = fetch.data_dir() / t.published.file_name
            return p or (str(stored) if stored.is_file() else None)
        return str(t.data.path)

    def scorer(self, sub: Submission) -> _Scorer | str:
        """The scorer of a submission's space, target and training set, or why there is
        none here (a note)."""
        key = (sub.task.space, sub.task.space_fingerprint, sub.task.target, sub.task.train_size)
        if key not in self._made:
            self._made[key] = self._make(sub)
        return self._made[key]

    def _make(self, sub: Submission) -> _Scorer | str:
        from elpagen import truth

        t = self._truth(sub)
        if t is None:
            return f"space {sub.task.space!r} unknown here (give its file with --space)"
        fp = sub.task.space_fingerprint
        if fp is not None and fp != t.space.fingerprint:
            return f"space {sub.task.space!r} here is another definition"
        path = self.local_data(t)
        if path is None or not Path(path).is_file():
            return f"no data file of space {t.space.name!r} here (elpagen data fetch)"
        train = truth.training_set(t, path if t.data is None or t.published else None,
                                   verify=self.verify_data)
        n = sub.task.train_size
        if n is not None and n != len(train):
            train = truth.training_set(t, path if t.data is None or t.published else None,
                                       verify=self.verify_data, size=n)
        if self.log and not t.is_table:
            from elpagen import reference

            d = Path(self.cache_dir) if self.cache_dir else reference.cache_dir()
            if not reference.cache_path(train, reference.DEFAULT_SIGMA, reference.DEFAULT_LAMBDA,
                                        d).exists():
                self.log(f"building the {t.space.name} reference energies to score the "
                         "submissions again (once: they are cached)")
        ref, _ = truth.reference_energies(t, train, path if t.published else None,
                                          verify=self.verify_data, cache_dir=self.cache_dir)
        return _Scorer(t.space, ref.classes, train.codes, ref.fingerprint(),
                       training_sha256(train.codes))


def _seed_metrics(sc: _Scorer, sub: Submission, g: Any, where: str) -> dict[str, Any]:
    """The metrics of one seed's generations."""
    d = generations.decode(g, where)
    space = sc.space
    if d.codes[-1] >= space.n_grid or not space.is_valid(space.decode(d.codes)).all():
        raise VerificationError(f"{where}: holds codes that are no composition of the "
                                f"{space.name} space")
    return metrics.evaluate(d.samples(), sub.task.target_class, sc.classes, sc.train_codes,
                            n_drawn=g.n_drawn, space=space)


def _compare(path: Path, what: str, stated: float, recomputed: float) -> None:
    if not close(float(stated), float(recomputed)):
        raise VerificationError(f"{path}: {what} is {stated:.6g}, its generations give "
                                f"{recomputed:.6g}: refused (the stated numbers must be "
                                "those of the samples)")


def verify(path: Path, sub: Submission, referees: Referees) -> Verdict:
    """Score a submission again (module doc): its verdict, or :class:`VerificationError`."""
    g = sub.generations
    if g is None:
        return Verdict(False, "no samples")
    sc = referees.scorer(sub)
    if isinstance(sc, str):
        return Verdict(False, sc)
    if sub.reference_sha256 != sc.fingerprint:
        raise VerificationError(
            f"{path} was scored by other reference energies than this machine's "
            f"(reference_sha256 {sub.reference_sha256[:12]}... vs {sc.fingerprint[:12]}...): "
            "rank it where it was scored, or rescore it here")
    if sub.task.training_sha256 is not None and sub.task.training_sha256 != sc.train_sha256:
        raise VerificationError(f"{path}: its training set is not the one of this machine "
                                f"(training_sha256 {sub.task.training_sha256[:12]}... vs "
                                f"{sc.train_sha256[:12]}...)")
    fr = sub.frontier
    if fr is not None and g.knob != fr.default:
        raise VerificationError(f"{path}: $.generations.knob {g.knob} is not the frontier's "
                                f"fitted value {fr.default}")
    try:
        got = [_seed_metrics(sc, sub, s, f"{path}: $.generations.per_seed[{i}]")
               for i, s in enumerate(g.per_seed)]
    except generations.GenerationsError as e:
        raise VerificationError(str(e)) from None
    for i, (r, m) in enumerate(zip(sub.per_seed, got, strict=False)):
        for k in (*HEADLINE, *COUNTS):
            _compare(path, f"$.per_seed[{i}].{k}", getattr(r, k), m[k])
    for k in HEADLINE + ("n_unique",):
        ms = getattr(sub.summary, k, None)
        if ms is None:
            continue
        mean, std = mean_std([m[k] for m in got])
        _compare(path, f"$.summary.{k}.mean", ms.mean, mean)
        _compare(path, f"$.summary.{k}.std", ms.std, std)
    return Verdict(True)


def verify_all(entries: Sequence[tuple[Path, Submission]],
               referees: Referees) -> list[Verdict]:
    """The verdict of every entry (the first forged one raises)."""
    return [verify(p, s, referees) for p, s in entries]
