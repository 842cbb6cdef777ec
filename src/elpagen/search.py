"""Multi-objective hyperparameter search (docs/method.md section 8) on Optuna: ``elpagen search``.

This module never imports :mod:`elpagen.oracle`: both objectives come from the training
set alone, so the search cannot peek at the full-space reference energies
(tests/test_search.py checks that ``elpagen.oracle`` is not loaded after a trial).

Each trial samples settings from the ranges below, trains one model (seed = ``--seed`` +
trial number) on the augmented DFT set, draws N valid class-1 samples (N = 10,000, or
1,000 with ``--quick``) and reports two objectives:

* ``js``: Jensen-Shannon distance between the per-site element distributions of the
  samples and of the class-1 *training* compositions (minimise);
* ``novel``: number of distinct sampled compositions that are not in the training set
  (maximise).

A model that cannot produce N valid compositions scores the worst values (1.0, 0).

Search spaces (``steps`` as multiples of the protocol's budget, log-uniform; ``--quick``
narrows the ranges in brackets so a trial takes about a second on a CPU core):

======  ==========================================================================
model   settings (range; [--quick range])
======  ==========================================================================
vae     layers 1-3 [1-2], width 64-512 log [8-32], latent 2-16, lr 1e-4..3e-3 log,
        batch_size 64-1024 log [32-128], steps 0.25-2 x budget [20-60],
        kl_weight 0.01..1 log
gan     layers 1-3 [1-2], width 64-1024 log [8-32], lr 1e-5..1e-3 log,
        batch_size 32-512 log [32-128], steps 0.25-2 x budget [10-30],
        critic_steps 1-5 [1-2], gp_weight 1..30 log
rl      layers 1-5 [1-2], width 64-512 log [8-32], lr 1e-5..1e-3 log,
        batch_size 64-1024 log [32-128], steps 0.25-2 x budget [20-60], beta 1..20 log
======  ==========================================================================

``layers`` x ``width`` become the ``hidden`` tuple of the model's config; every other
setting keeps the protocol's value (``models.base.resolve_config``). The RL agent is
trained per class: for class 1.

Storage and workers: trials live in an Optuna RDB storage, by default the SQLite file
``elpagen_search.db`` in the current directory (or ``$ELPAGEN_SEARCH_STORAGE``); any
SQLAlchemy URL works, e.g. PostgreSQL for workers on many machines. ``--trials N`` is the
*total* number of completed trials the study should hold: every worker stops when the
study has N, so rerunning the same command after an interruption completes the study,
and ``--workers W`` local processes (or workers on other machines) share one count.
Running trials send a heartbeat every ``--heartbeat`` seconds; a trial whose worker went
silent for three intervals (killed, machine lost) is marked failed and re-queued with the
same settings and seed, and the next free worker runs it again.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import multiprocessing
import os
import signal
import socket
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from elpagen import __version__
from elpagen.cli import _common
from elpagen.errors import UsageError as CLIError
from elpagen.errors import is_user_error
from elpagen.io import atomic_write

TARGET_CLASS = 1
DEFAULT_DB = "elpagen_search.db"
STORAGE_ENV = "ELPAGEN_SEARCH_STORAGE"
SAMPLERS = ("random", "tpe", "nsga2")
MODELS = ("vae", "gan", "rl")
SAMPLES = 10_000
QUICK_SAMPLES = 1_000
OBJECTIVES = ("js", "novel")
#: Grace period of a silent worker, in heartbeat intervals.
GRACE_INTERVALS = 3
#: Consecutive failed trials after which a worker gives up (a systematic error).
MAX_CONSECUTIVE_FAILURES = 3
EXPORT_RULE = (
    "Pareto front (js minimised, novel maximised) ranked by the Euclidean distance to the "
    "ideal point (min js, max novel) after min-max normalising both objectives over the "
    "front; ties go to the lower trial number; rank 1 is the closest"
)
# Study attributes that must match when a study is continued.
_META_KEYS = ("model", "protocol", "quick", "samples", "seed", "target_class", "data_sha256")


# --------------------------------------------------------------------------- search spaces


@dataclass(frozen=True)
class Dim:
    """One searched setting: an Optuna parameter and its range.

    ``budget``: ``low``/``high`` are multiples of the protocol's ``steps``.
    ``quick``: the (absolute) range under ``--quick``; None keeps the normal one.
    """

    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = True
    quick: tuple[float, float] | None = None
    budget: bool = False

    def bounds(self, base_steps: int, quick: bool) -> tuple[float, float]:
        if quick and self.quick is not None:
            return self.quick
        if self.budget:
            return max(1, round(self.low * base_steps)), max(1, round(self.high * base_steps))
        return self.low, self.high

    def suggest(self, trial: Any, base_steps: int, quick: bool) -> int | float:
        lo, hi = self.bounds(base_steps, quick)
        if self.integer:
            return trial.suggest_int(self.name, int(lo), int(hi), log=self.log)
        return trial.suggest_float(self.name, float(lo), float(hi), log=self.log)


_TINY_LAYERS, _TINY_WIDTH, _TINY_BATCH = (1, 2), (8, 32), (32, 128)

SPACES: dict[str, tuple[Dim, ...]] = {
    "vae": (
        Dim("layers", 1, 3, quick=_TINY_LAYERS),
        Dim("width", 64, 512, log=True, quick=_TINY_WIDTH),
        Dim("latent", 2, 16),
        Dim("lr", 1e-4, 3e-3, log=True, integer=False),
        Dim("batch_size", 64, 1024, log=True, quick=_TINY_BATCH),
        Dim("steps", 0.25, 2.0, log=True, budget=True, quick=(20, 60)),
        Dim("kl_weight", 0.01, 1.0, log=True, integer=False),
    ),
    "gan": (
        Dim("layers", 1, 3, quick=_TINY_LAYERS),
        Dim("width", 64, 1024, log=True, quick=_TINY_WIDTH),
        Dim("lr", 1e-5, 1e-3, log=True, integer=False),
        Dim("batch_size", 32, 512, log=True, quick=_TINY_BATCH),
        Dim("steps", 0.25, 2.0, log=True, budget=True, quick=(10, 30)),
        Dim("critic_steps", 1, 5, quick=(1, 2)),
        Dim("gp_weight", 1.0, 30.0, log=True, integer=False),
    ),
    "rl": (
        Dim("layers", 1, 5, quick=_TINY_LAYERS),
        Dim("width", 64, 512, log=True, quick=_TINY_WIDTH),
        Dim("lr", 1e-5, 1e-3, log=True, integer=False),
        Dim("batch_size", 64, 1024, log=True, quick=_TINY_BATCH),
        Dim("steps", 0.25, 2.0, log=True, budget=True, quick=(20, 60)),
        Dim("beta", 1.0, 20.0, log=True, integer=False),
    ),
}


def _model_class(model: str) -> type:
    from elpagen.registry import MODEL_CLASSES

    return MODEL_CLASSES[model]


def params_to_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """Trial parameters -> config overrides (``layers`` x ``width`` -> ``hidden``)."""
    out = {k: v for k, v in params.items() if k not in ("layers", "width")}
    if "layers" in params and "width" in params:
        out["hidden"] = (int(params["width"]),) * int(params["layers"])
    return out


def suggest_config(trial: Any, model: str, protocol: str, quick: bool) -> Any:
    """Sample one setting of ``model`` for the trial; a validated config dataclass."""
    from elpagen.models.base import resolve_config

    cls = _model_class(model)
    base = resolve_config(cls.Config, cls.PROTOCOLS, protocol)
    params = {d.name: d.suggest(trial, base.steps, quick) for d in SPACES[model]}
    return resolve_config(cls.Config, cls.PROTOCOLS, protocol, params_to_overrides(params))


def space_table(model: str) -> list[str]:
    """Markdown rows ``| model | setting | fast | paper | --quick |`` of a search space."""
    from elpagen.models.base import resolve_config

    cls = _model_class(model)
    steps = {p: resolve_config(cls.Config, cls.PROTOCOLS, p).steps for p in ("fast", "paper")}

    def fmt(d: Dim, lo: float, hi: float) -> str:
        f = (lambda v: f"{int(v):,}") if d.integer else (lambda v: f"{v:g}")
        return f"{f(lo)} .. {f(hi)}" + (" log" if d.log else "")

    rows = []
    for d in SPACES[model]:
        quick = fmt(d, *d.quick) if d.quick is not None else "same"
        fast, paper = (fmt(d, *d.bounds(steps[p], False)) for p in ("fast", "paper"))
        rows.append(f"| {model} | {d.name} | {fast} | {paper} | {quick} |")
    return rows


# --------------------------------------------------------------------------- samplers


def make_sampler(name: str, seed: int) -> Any:
    """The named Optuna sampler, reseeded for every trial (see ``_trial_seeded_class``)."""
    if name not in SAMPLERS:
        raise CLIError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")
    return _trial_seeded_class()(name, seed)


def _new_sampler(name: str, seed: int) -> Any:
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        # Multi-objective TPE; constant_liar keeps parallel workers from piling onto one point.
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    return optuna.samplers.NSGAIISampler(seed=seed)


_SAMPLER_CLASS: type | None = None


def _trial_seeded_class() -> type:
    """The sampler class, built on first use: importing optuna costs every command ~1 s."""
    global _SAMPLER_CLASS
    if _SAMPLER_CLASS is not None:
        return _SAMPLER_CLASS
    import optuna

    class TrialSeededSampler(optuna.samplers.BaseSampler):
        """Delegates to a fresh inner sampler seeded from (seed, trial number).

        One seeded sampler per process would repeat itself: every worker (and every rerun
        of a study) would draw the same sequence of settings. Seeding per trial makes the
        random sampler's trial k a pure function of (seed, k) however many workers run;
        TPE and NSGA-II keep their state (the trial history) in the storage anyway.
        """

        def __init__(self, name: str, seed: int) -> None:
            self.name, self.seed = name, int(seed)
            self._inner = _new_sampler(name, self.seed)

        def __str__(self) -> str:
            return f"{self.name} (seeded per trial from {self.seed})"

        def before_trial(self, study, trial) -> None:
            inner_seed = (self.seed * 1_000_003 + trial.number) % 2**32
            self._inner = _new_sampler(self.name, inner_seed)
            self._inner.before_trial(study, trial)

        def infer_relative_search_space(self, study, trial):
            return self._inner.infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self._inner.sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self._inner.sample_independent(study, trial, param_name, param_distribution)

        def after_trial(self, study, trial, state, values) -> None:
            self._inner.after_trial(study, trial, state, values)

    _SAMPLER_CLASS = TrialSeededSampler
    return _SAMPLER_CLASS


# --------------------------------------------------------------------------- storage


def default_storage() -> str:
    """``$ELPAGEN_SEARCH_STORAGE``, else the SQLite file elpagen_search.db in the cwd."""
    env = os.environ.get(STORAGE_ENV)
    if env:
        return env
    return f"sqlite:///{Path.cwd() / DEFAULT_DB}"


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as given
        return url


def _sqlite_path(url: str) -> Path | None:
    """The database file of a file-based SQLite URL, else None."""
    if not url.startswith("sqlite:"):
        return None
    try:
        from sqlalchemy.engine import make_url

        db = make_url(url).database
    except Exception:  # noqa: BLE001
        return None
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Several worker processes write one file: wait for the lock instead of failing.
        return {"connect_args": {"timeout": 60}}
    if url.startswith("postgresql"):
        # Fail fast on a host that drops packets; pre-ping survives server restarts.
        return {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    return {"pool_pre_ping": True}


def open_storage(url: str, heartbeat: int | None = None, *, must_exist: bool = False) -> Any:
    """An Optuna RDBStorage for ``url``; a one-line CLIError when it cannot be used.

    ``must_exist``: refuse to create a new SQLite file (for reading a study).
    """
    import optuna
    from sqlalchemy import exc as sa_exc

    shown = safe_url(url)
    db = _sqlite_path(url)
    if db is not None:
        if must_exist and not db.is_file():
            raise CLIError(
                f"no search database at {db}; run `elpagen search MODEL --trials N` first "
                "or pass --storage URL"
            )
        if not db.parent.is_dir():
            raise CLIError(f"cannot create {db}: directory {db.parent} does not exist")
    kwargs: dict[str, Any] = {"engine_kwargs": _engine_kwargs(url)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the heartbeat API is marked experimental
            if heartbeat is not None:
                kwargs.update(
                    heartbeat_interval=int(heartbeat),
                    grace_period=GRACE_INTERVALS * int(heartbeat),
                    # The stale trial is failed and a WAITING copy (same settings) queued.
                    heartbeat_stale_trial_callback=(
                        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2)
                    ),
                )
            return _create_rdb_storage(url, kwargs)
    except ImportError:
        scheme = url.split(":", 1)[0]
        raise CLIError(
            f"no database driver for {scheme!r} storage {shown}; install it "
            "(PostgreSQL: pip install 'elpagen[postgres]')"
        ) from None
    except (sa_exc.SQLAlchemyError, RuntimeError, ValueError) as e:
        reason = " ".join(str(getattr(e, "orig", None) or e).split())[:300]
        raise CLIError(
            f"cannot open search storage {shown}: {reason}; check the URL "
            "(e.g. postgresql+psycopg2://USER:PASSWORD@HOST:5432/DB) and that the server "
            "runs and is reachable, or omit --storage for the local SQLite file"
        ) from None


def _create_rdb_storage(url: str, kwargs: dict[str, Any], attempts: int = 5) -> Any:
    """RDBStorage(url), retried when another process initialises the same new database.

    Two workers (or machines) opening a fresh database at once both create Optuna's tables
    and version row; the loser gets a uniqueness or lock error, and a second try finds the
    schema in place.
    """
    import optuna
    from sqlalchemy import exc as sa_exc

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except (sa_exc.IntegrityError, sa_exc.OperationalError, sa_exc.ProgrammingError) as e:
            text = str(e).lower()
            racing = isinstance(e, sa_exc.IntegrityError) or any(
                m in text for m in ("already exists", "duplicate key", "unique", "locked"))
            if not racing or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module="optuna")


def study_names(storage: Any) -> list[str]:
    import optuna

    return sorted(optuna.get_all_study_names(storage))


def load_study(
    storage: Any, name: str, model: str | None = None, sampler: Any = None,
    *, wait: float = 0.0,
) -> Any:
    """An existing elpagen study; one-line errors for unknown names or other models.

    ``wait``: seconds to wait for the study's attributes, which its creator (another
    worker or machine that won the race to create it) writes just after creating it.
    """
    import optuna

    names = study_names(storage)
    if name not in names:
        have = ", ".join(names) if names else "none"
        raise CLIError(f"no study named {name!r} in this storage (studies there: {have})")
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
    deadline = time.monotonic() + wait
    while _META_KEYS[-1] not in study.user_attrs and time.monotonic() < deadline:
        time.sleep(0.25)
    attrs = study.user_attrs
    if "model" not in attrs:
        raise CLIError(f"study {name!r} was not created by `elpagen search`")
    if model is not None and attrs["model"] != model:
        raise CLIError(
            f"study {name!r} searches {attrs['model']}, not {model}; pass --study NAME"
        )
    return study


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class SearchSpec:
    """Everything a worker process needs (picklable for the spawn start method)."""

    model: str
    n_trials: int
    storage: str
    study: str
    sampler: str = "random"
    protocol: str = "fast"
    quick: bool = False
    samples: int = SAMPLES
    seed: int = 0
    device: str = "auto"
    heartbeat: int = 10
    data: str | None = None
    verify: bool = True
    quiet: bool = False
    threads: int | None = None

    def meta(self, data_sha256: str) -> dict[str, Any]:
        return {
            "model": self.model,
            "protocol": self.protocol,
            "quick": self.quick,
            "samples": self.samples,
            "seed": self.seed,
            "target_class": TARGET_CLASS,
            "data_sha256": data_sha256,
            "elpagen_version": __version__,
            "objectives": list(OBJECTIVES),
        }


def prepare_study(spec: SearchSpec, data_sha256: str) -> Any:
    """Create the study, or check that an existing one was made with the same options."""
    import optuna

    storage = open_storage(spec.storage, spec.heartbeat)
    sampler = make_sampler(spec.sampler, spec.seed)
    try:
        study = optuna.create_study(
            storage=storage, study_name=spec.study, sampler=sampler,
            directions=["minimize", "maximize"],
        )
        meta = spec.meta(data_sha256)
        # The last key of _META_KEYS goes last: a racing worker waits for it (load_study).
        for k in sorted(meta, key=lambda k: k == _META_KEYS[-1]):
            study.set_user_attr(k, meta[k])
        return study
    except optuna.exceptions.DuplicatedStudyError:
        pass
    study = load_study(storage, spec.study, spec.model, sampler, wait=10.0)
    want, have = spec.meta(data_sha256), study.user_attrs
    diff = [k for k in _META_KEYS if have.get(k) != want[k]]
    if diff:
        was = ", ".join(f"{k}={have.get(k)!r}" for k in diff)
        now = ", ".join(f"{k}={want[k]!r}" for k in diff)
        raise CLIError(
            f"study {spec.study!r} was created with {was}, this run has {now}; "
            "use the same options to continue it or another --study NAME"
        )
    return study


class Objective:
    """Train one model per trial and score it on the two training-set objectives."""

    def __init__(self, spec: SearchSpec, train: Any, log: Any = None) -> None:
        self.spec, self.train, self.log = spec, train, log
        self.consecutive_failures = 0
        self.last_error = ""
        self.completed = 0

    def model_seed(self, trial: Any) -> int:
        # A re-queued trial inherits the user attributes of the trial it repeats, so it
        # keeps that trial's seed: the same fit again.
        return int(trial.user_attrs.get("model_seed", self.spec.seed + trial.number))

    def __call__(self, trial: Any) -> tuple[float, int]:
        import optuna
        from optuna.trial import TrialState

        # Exactly N completed trials: a trial started after N others are complete or
        # running (a race between workers) is dropped before any work.
        ahead = sum(
            1 for t in trial.study.get_trials(
                deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))
            if t.state == TrialState.COMPLETE or t.number < trial.number
        )
        if ahead >= self.spec.n_trials:
            trial.set_user_attr("surplus", True)
            raise optuna.TrialPruned(f"the study already holds {self.spec.n_trials} trials")
        try:
            values = self._run(trial)
        except Exception as e:
            self.consecutive_failures += 1
            self.last_error = f"{type(e).__name__}: {e}".splitlines()[0]
            trial.set_user_attr("error", self.last_error)
            raise
        self.consecutive_failures = 0
        self.completed += 1
        return values

    def _run(self, trial: Any) -> tuple[float, int]:
        from elpagen import metrics
        from elpagen.experiments import sample_seed
        from elpagen.generator import SamplingError

        spec, train = self.spec, self.train
        cls = _model_class(spec.model)
        retry = "model_seed" in trial.user_attrs  # inherited from a trial whose worker died
        seed = self.model_seed(trial)
        trial.set_user_attr("model_seed", seed)
        config = suggest_config(trial, spec.model, spec.protocol, spec.quick)
        trial.set_user_attr("config", _jsonable(dataclasses.asdict(config)))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr("sampler", spec.sampler)
        t0 = time.perf_counter()
        model = cls(seed, config, device=spec.device)
        model.fit(train, None if cls.conditional else TARGET_CLASS)
        t1 = time.perf_counter()
        try:
            s = model.sample(spec.samples, TARGET_CLASS, seed=sample_seed(seed))
        except SamplingError as e:
            # No usable output: the worst value of both objectives (no overlap, nothing new).
            trial.set_user_attr("sampling_failed", str(e))
            js, novel, n_drawn = 1.0, 0, 0
        else:
            js = metrics.training_js_objective(s.codes, train.codes, train.classes, TARGET_CLASS)
            novel = metrics.n_novel_unique(s.codes, train.codes)
            n_drawn = s.n_drawn
        t2 = time.perf_counter()
        trial.set_user_attr("valid_fraction", spec.samples / n_drawn if n_drawn else 0.0)
        trial.set_user_attr("fit_seconds", round(t1 - t0, 3))
        trial.set_user_attr("sample_seconds", round(t2 - t1, 3))
        if self.log:
            again = f" (re-run of a stale trial, seed {seed})" if retry else ""
            self.log(f"trial {trial.number}{again}: JS {js:.4f}, novel {novel:,} "
                     f"(fit {t1 - t0:.1f} s, sample {t2 - t1:.1f} s)")
        return float(js), int(novel)


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _counts(study: Any) -> dict[str, int]:
    from optuna.trial import TrialState

    out = {s.name: 0 for s in TrialState}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] += 1
    return out


def run_worker(spec: SearchSpec, index: int = 0, n_workers: int = 1) -> int:
    """One worker: run trials until the study holds ``spec.n_trials`` completed ones.

    Returns the number of trials this worker completed.
    """
    import optuna

    from elpagen import data

    _quiet_optuna()
    if spec.threads:
        import torch

        torch.set_num_threads(spec.threads)
    tag = f"[worker {index + 1}/{n_workers}] " if n_workers > 1 else ""

    def log(msg: str) -> None:
        if not spec.quiet:
            print(f"{tag}{msg}", file=sys.stderr, flush=True)

    train = data.load_training_set(spec.data, verify=spec.verify)
    storage = open_storage(spec.storage, spec.heartbeat)
    study = load_study(storage, spec.study, spec.model, make_sampler(spec.sampler, spec.seed))
    objective = Objective(spec, train, log)
    poll = min(5.0, max(0.5, spec.heartbeat / 2))
    waiting_said = False
    while True:
        # Fails (and re-queues) trials of workers that stopped sending heartbeats.
        optuna.storages.fail_stale_trials(study)
        n = _counts(study)
        done, busy = n["COMPLETE"], n["RUNNING"]
        if done >= spec.n_trials:
            break
        if done + busy >= spec.n_trials:
            # The last trials run elsewhere; wait: one may fail or its worker may die.
            if not waiting_said:
                log(f"waiting for {busy} running trial(s) of other workers")
                waiting_said = True
            time.sleep(poll)
            continue
        waiting_said = False
        study.optimize(objective, n_trials=1, catch=(Exception,))
        if objective.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
            raise CLIError(
                f"{MAX_CONSECUTIVE_FAILURES} trials in a row failed in this worker, the last "
                f"with {objective.last_error}; the completed trials are kept"
            )
    return objective.completed


def _worker_main(spec: SearchSpec, index: int, n_workers: int) -> None:
    """Entry point of a spawned worker process: user errors become one line, exit 2."""
    try:
        run_worker(spec, index, n_workers)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # noqa: BLE001
        if not is_user_error(e):
            raise
        print(f"error: [worker {index + 1}] {str(e).splitlines()[0]}", file=sys.stderr)
        sys.exit(2)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stop_workers(procs: Sequence[Any]) -> None:
    """Interrupt the workers: each marks its running trial failed and exits.

    Ctrl-C in a terminal reaches them already; give them a moment, then send SIGINT to any
    still alive (a lone SIGINT/SIGTERM to the parent), and terminate stragglers. A worker
    terminated mid-trial leaves that trial RUNNING; the heartbeat re-queues it later.
    """
    deadline = time.monotonic() + 2.0
    for p in procs:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive() and p.pid is not None:
            os.kill(p.pid, signal.SIGINT)
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.terminate()
            p.join(timeout=5)


def run_search(spec: SearchSpec, workers: int = 1) -> dict[str, int]:
    """Create or continue the study and run ``workers`` local worker processes on it."""
    from elpagen import data

    _quiet_optuna()
    train = data.load_training_set(spec.data, verify=spec.verify)
    study = prepare_study(spec, train.sha256)
    n = _counts(study)
    if n["COMPLETE"] >= spec.n_trials:
        return n
    if workers == 1:
        run_worker(spec)
        return _counts(study)
    # Split the cores so W workers do not oversubscribe the CPU with torch threads.
    spec = dataclasses.replace(spec, threads=spec.threads or max(1, _cores() // workers))
    ctx = multiprocessing.get_context("spawn")  # no fork of torch/SQLAlchemy state
    procs = [
        ctx.Process(target=_worker_main, args=(spec, i, workers), name=f"elpagen-search-{i}")
        for i in range(workers)
    ]
    # SIGTERM (e.g. from a batch scheduler) is handled like Ctrl-C, so workers are not orphaned.
    old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        _stop_workers(procs)
        raise
    finally:
        signal.signal(signal.SIGTERM, old_term)
    bad = [(i + 1, p.exitcode) for i, p in enumerate(procs) if p.exitcode != 0]
    if bad:
        codes = ", ".join(f"worker {i}: exit {c}" for i, c in bad)
        raise CLIError(
            f"{len(bad)} of {workers} workers failed ({codes}); completed trials are kept, "
            "rerun the same command to continue"
        )
    return _counts(study)


# --------------------------------------------------------------------------- results


def pareto_front(study: Any) -> list[Any]:
    """Completed trials on the Pareto front (js minimised, novel maximised)."""
    return list(study.best_trials)


def rank_front(front: Sequence[Any]) -> list[tuple[Any, float]]:
    """(trial, distance) pairs, closest to the ideal point first (see EXPORT_RULE)."""
    if not front:
        return []
    v = np.array([t.values for t in front], dtype=np.float64)
    js, novel = v[:, 0], v[:, 1]

    def gap(x: np.ndarray, best: float) -> np.ndarray:
        # Normalised distance from the best value over the front; 0 when all are equal.
        span = x.max() - x.min()
        return np.abs(x - best) / span if span > 0 else np.zeros_like(x)

    # The ideal point: js at its minimum over the front, novel at its maximum.
    d = np.hypot(gap(js, js.min()), gap(novel, novel.max()))
    order = sorted(range(len(front)), key=lambda i: (round(float(d[i]), 12), front[i].number))
    return [(front[i], float(d[i])) for i in order]


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def format_front(study: Any, ranked: list[tuple[Any, float]], shown_url: str) -> str:
    attrs = study.user_attrs
    n = _counts(study)
    names = [d.name for d in SPACES.get(attrs["model"], ())]
    head = f"{'rank':>4} {'trial':>6} {'JS train c1':>12} {'novel':>9} {'dist':>6}  settings"
    lines = [
        f"study {study.study_name} ({attrs['model']}, {attrs['protocol']} protocol"
        f"{', quick' if attrs.get('quick') else ''}, {attrs['samples']:,} class-1 samples "
        f"per trial) in {shown_url}",
        f"{n['COMPLETE']} complete, {n['FAIL']} failed, {n['PRUNED']} pruned, "
        f"{n['RUNNING']} running, {n['WAITING']} waiting; Pareto front of {len(ranked)}",
        f"ranking: {EXPORT_RULE}",
        head,
        "-" * len(head),
    ]
    for r, (t, d) in enumerate(ranked, start=1):
        settings = " ".join(f"{k}={_fmt_value(t.params[k])}" for k in names if k in t.params)
        lines.append(
            f"{r:>4} {t.number:>6} {t.values[0]:>12.4f} {int(t.values[1]):>9,} {d:>6.3f}  "
            f"{settings}"
        )
    return "\n".join(lines)


def plot_front(study: Any, ranked: list[tuple[Any, float]], path: Path) -> Path:
    """Scatter of all completed trials with the Pareto front highlighted (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.scatter([t.values[1] for t in done], [t.values[0] for t in done], s=18,
               color="0.65", label=f"all completed trials ({len(done)})")
    front = sorted((t for t, _ in ranked), key=lambda t: t.values[1])
    ax.plot([t.values[1] for t in front], [t.values[0] for t in front], "o-",
            color="tab:red", ms=6, lw=1, label=f"Pareto front ({len(front)})")
    if ranked:
        best = ranked[0][0]
        ax.scatter([best.values[1]], [best.values[0]], s=160, facecolors="none",
                   edgecolors="black", lw=1.5, label=f"rank 1 (trial {best.number})", zorder=5)
    ax.set_xlabel("unique generated compositions not in the training set (maximise)")
    ax.set_ylabel("JS distance to training class 1 (minimise)")
    ax.set_title(f"{study.study_name}: {study.user_attrs['model']}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    # Atomic, so a half-written plot never replaces a good one.
    atomic_write(path, buf.getvalue())
    return path


def export_config(study: Any, ranked: list[tuple[Any, float]], k: int, shown_url: str) -> dict:
    """The K-th ranked front point as a config file that ``elpagen train --config`` reads."""
    if k < 1:
        raise CLIError(f"--export-best must be 1 or more, got {k}")
    if not ranked:
        raise CLIError(f"study {study.study_name!r} has no completed trial to export")
    if k > len(ranked):
        raise CLIError(
            f"--export-best {k}: the Pareto front of {study.study_name!r} holds only "
            f"{len(ranked)} point(s)"
        )
    t, dist = ranked[k - 1]
    attrs = study.user_attrs
    settings = t.user_attrs.get("config")
    if settings is None:  # written by an older version: rebuild from the parameters
        from elpagen.models.base import resolve_config

        cls = _model_class(attrs["model"])
        cfg = resolve_config(cls.Config, cls.PROTOCOLS, attrs["protocol"],
                             params_to_overrides(dict(t.params)))
        settings = _jsonable(dataclasses.asdict(cfg))
    return {
        "format": "elpagen-search-export",
        "model": attrs["model"],
        "protocol": attrs["protocol"],
        "target_class": TARGET_CLASS,
        "settings": settings,
        "searched": dict(t.params),
        "objectives": {"js_train_class1": t.values[0], "novel_unique": int(t.values[1])},
        "trial": t.number,
        "model_seed": t.user_attrs.get("model_seed"),
        "study": study.study_name,
        "storage": shown_url,
        "quick": bool(attrs.get("quick")),
        "samples": attrs.get("samples"),
        "rank": k,
        "front_size": len(ranked),
        "distance": dist,
        "rule": EXPORT_RULE,
        "elpagen_version": __version__,
    }


# --------------------------------------------------------------------------- CLI


def add_cli(subparsers: Any) -> None:
    """Add the ``search`` subcommand to the elpagen parser."""
    p = subparsers.add_parser(
        "search",
        help="hyperparameter search on the training-set objectives (Optuna)",
        description="Search model settings on two objectives that need only the training "
                    "set: JS distance of the generated class-1 distribution to training "
                    "class 1 (minimise) and unique novel compositions (maximise). See "
                    "docs/search.md.",
    )
    _common(p)
    # Validated by hand (not argparse choices) so bad values give one error line.
    p.add_argument("model", metavar="MODEL", help="vae, gan or rl")
    p.add_argument("--trials", type=int, metavar="N",
                   help="total number of completed trials the study should hold")
    p.add_argument("--storage", metavar="URL",
                   help=f"SQLAlchemy URL (default: ${STORAGE_ENV}, else "
                        f"sqlite:///$PWD/{DEFAULT_DB})")
    p.add_argument("--study", metavar="NAME", help="study name (default: elpagen-MODEL)")
    p.add_argument("--workers", type=int, default=1, metavar="W",
                   help="local worker processes sharing the study (default 1)")
    p.add_argument("--sampler", default="random", metavar="NAME",
                   help="random (default, docs/method.md section 8), tpe or nsga2")
    p.add_argument("--protocol", default="fast", metavar="NAME",
                   help="budget the ranges are built on: fast (default) or paper")
    p.add_argument("--quick", action="store_true",
                   help="tiny networks and budgets, 1,000 samples (tests, a first look)")
    p.add_argument("--samples", type=int, metavar="N",
                   help=f"class-1 samples per trial (default {SAMPLES:,}; "
                        f"{QUICK_SAMPLES:,} with --quick)")
    p.add_argument("--seed", type=int, default=0,
                   help="base seed: trial k trains with seed+k, samplers are seeded (default 0)")
    p.add_argument("--heartbeat", type=int, default=10, metavar="S",
                   help="seconds between heartbeats of a running trial; a trial silent for "
                        f"{GRACE_INTERVALS}x this is failed and re-queued (default 10)")
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda")
    p.add_argument("--show", action="store_true",
                   help="print the Pareto front and write a scatter plot")
    p.add_argument("--plot", metavar="PATH",
                   help="scatter plot file for --show (default: STUDY-pareto.png in the cwd, "
                        "replaced on every --show)")
    p.add_argument("--export-best", type=int, metavar="K",
                   help="write the K-th ranked Pareto point (1 = best) to -o as a config file")
    p.add_argument("-o", "--output", metavar="FILE", help="config file for --export-best")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing -o file or an existing --plot file")
    p.set_defaults(func=cmd_search)


def cmd_search(args: argparse.Namespace) -> int:
    from elpagen.io import atomic_write_text

    if args.model not in MODELS:
        raise CLIError(f"unknown model {args.model!r}; choose from {', '.join(MODELS)}")
    if args.sampler not in SAMPLERS:
        raise CLIError(f"unknown sampler {args.sampler!r}; choose from {', '.join(SAMPLERS)}")
    if args.protocol not in ("fast", "paper"):
        raise CLIError(f"unknown protocol {args.protocol!r}; choose from fast, paper")
    if args.trials is None and not args.show and args.export_best is None:
        raise CLIError("give --trials N to search, or --show / --export-best K to read a study")
    if args.trials is not None and args.trials <= 0:
        raise CLIError(f"--trials must be positive, got {args.trials}")
    if args.workers <= 0:
        raise CLIError(f"--workers must be positive, got {args.workers}")
    if args.heartbeat <= 0:
        raise CLIError(f"--heartbeat must be a positive number of seconds, got {args.heartbeat}")
    samples = args.samples if args.samples is not None else (
        QUICK_SAMPLES if args.quick else SAMPLES)
    if samples <= 0:
        raise CLIError(f"--samples must be positive, got {samples}")
    out = None
    if args.export_best is not None:
        if not args.output:
            raise CLIError("--export-best needs -o FILE for the config")
        if args.export_best < 1:
            raise CLIError(f"--export-best must be 1 or more, got {args.export_best}")
        out = _check_target(args.output, args.overwrite)
    elif args.output:
        raise CLIError("-o is the file of --export-best K; give --export-best too")
    study_name = args.study or f"elpagen-{args.model}"
    plot = None
    if args.show:
        if args.plot:
            plot = _check_target(args.plot, args.overwrite)
        else:
            # Our own default name: replaced on every --show (documented).
            plot = Path.cwd() / f"{_safe_name(study_name)}-pareto.png"
    url = args.storage or default_storage()
    shown = safe_url(url)
    if url.startswith("sqlite") and _sqlite_path(url) is None:
        # Every process would get its own empty database: nothing would be shared or kept.
        raise CLIError(f"{shown} keeps nothing; give an SQLite file (sqlite:///PATH) or a server")
    _quiet_optuna()

    if args.trials is not None:
        spec = SearchSpec(
            model=args.model, n_trials=args.trials, storage=url, study=study_name,
            sampler=args.sampler, protocol=args.protocol, quick=args.quick, samples=samples,
            seed=args.seed, device=args.device, heartbeat=args.heartbeat, data=args.data,
            verify=not args.no_verify, quiet=args.quiet,
        )
        t0 = time.perf_counter()
        n = run_search(spec, args.workers)
        print(f"study {study_name} in {shown}: {n['COMPLETE']} completed trials "
              f"({n['FAIL']} failed, {n['PRUNED']} pruned) after {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
    if not args.show and args.export_best is None:
        return 0
    storage = open_storage(url, must_exist=True)
    study = load_study(storage, study_name, args.model)
    ranked = rank_front(pareto_front(study))
    if args.show:
        print(format_front(study, ranked, shown))
        if ranked:
            plot_front(study, ranked, plot)
            print(f"wrote scatter plot to {plot}", file=sys.stderr)
        else:
            print("no completed trial yet: no plot written", file=sys.stderr)
    if out is not None:
        cfg = export_config(study, ranked, args.export_best, shown)
        atomic_write_text(out, json.dumps(cfg, indent=2) + "\n")
        extra = f" --target-class {TARGET_CLASS}" if args.model == "rl" else ""
        print(f"wrote trial {cfg['trial']} (rank {args.export_best} of {len(ranked)}) to {out}; "
              f"train it with `elpagen train {args.model}{extra} --config {out} -o DIR`",
              file=sys.stderr)
    return 0


def _check_target(path: str, overwrite: bool) -> Path:
    """An output file path; never a device or other special file (we write by renaming a
    temp file onto the path, which would replace e.g. /dev/null with a regular file)."""
    from elpagen.io import check_output

    p = check_output(path, overwrite)
    if p.exists() and not p.is_file():
        raise CLIError(f"{p} is not a regular file; give a file name")
    return p


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "study"
