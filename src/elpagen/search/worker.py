"""Running ``elpagen search``: the study's options, the objective, workers, the search.

:func:`run_search` creates (or continues) a study and runs local worker processes on
it; :func:`run_worker` is one worker, also usable on other machines sharing the storage.
``SearchSpec.n_trials`` is the *total* number of completed trials the study should hold:
every worker stops when the study has that many. A trial whose worker stopped sending
heartbeats is failed and re-queued with the same settings and seed.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from elpagen.errors import UsageError, is_user_error
from elpagen.io import to_jsonable
from elpagen.search.spec import (
    OBJECTIVES,
    SAMPLES,
    TARGET_CLASS,
    make_sampler,
    model_class,
    suggest_config,
)
from elpagen.search.storage import (
    META_KEYS,
    load_study,
    open_storage,
    quiet_optuna,
    trial_counts,
)
from elpagen.seeds import trial_seed
from elpagen.version import __version__

#: Consecutive failed trials after which a worker gives up (a systematic error).
MAX_CONSECUTIVE_FAILURES = 3


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
        # The last key of META_KEYS goes last: a racing worker waits for it (load_study).
        for k in sorted(meta, key=lambda k: k == META_KEYS[-1]):
            study.set_user_attr(k, meta[k])
        return study
    except optuna.exceptions.DuplicatedStudyError:
        pass
    study = load_study(storage, spec.study, spec.model, sampler, wait=10.0)
    want, have = spec.meta(data_sha256), study.user_attrs
    diff = [k for k in META_KEYS if have.get(k) != want[k]]
    if diff:
        was = ", ".join(f"{k}={have.get(k)!r}" for k in diff)
        now = ", ".join(f"{k}={want[k]!r}" for k in diff)
        raise UsageError(
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
        return int(trial.user_attrs.get("model_seed", trial_seed(self.spec.seed, trial.number)))

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
        from elpagen.generator import SamplingError
        from elpagen.harness.trial import fit, run_trial

        spec, train = self.spec, self.train
        cls = model_class(spec.model)
        retry = "model_seed" in trial.user_attrs  # inherited from a trial whose worker died
        seed = self.model_seed(trial)
        trial.set_user_attr("model_seed", seed)
        config = suggest_config(trial, spec.model, spec.protocol, spec.quick)
        trial.set_user_attr("config", to_jsonable(dataclasses.asdict(config)))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr("sampler", spec.sampler)
        t0 = time.perf_counter()
        [model] = fit(spec.model, train, [seed], None if cls.conditional else TARGET_CLASS,
                      protocol=spec.protocol, overrides=dataclasses.asdict(config),
                      device=spec.device)
        t1 = time.perf_counter()
        try:
            r = run_trial(model, spec.model, TARGET_CLASS, spec.samples, seed,
                          training_objectives(train))
        except SamplingError as e:
            # No usable output: the worst value of both objectives (no overlap, nothing new).
            trial.set_user_attr("sampling_failed", str(e))
            js, novel, n_drawn = 1.0, 0, 0
        else:
            js, novel, n_drawn = r.metrics["js"], r.metrics["novel"], r.n_drawn
        t2 = time.perf_counter()
        trial.set_user_attr("valid_fraction", spec.samples / n_drawn if n_drawn else 0.0)
        trial.set_user_attr("fit_seconds", round(t1 - t0, 3))
        trial.set_user_attr("sample_seconds", round(t2 - t1, 3))
        if self.log:
            again = f" (re-run of a stale trial, seed {seed})" if retry else ""
            self.log(f"trial {trial.number}{again}: JS {js:.4f}, novel {novel:,} "
                     f"(fit {t1 - t0:.1f} s, sample {t2 - t1:.1f} s)")
        return float(js), int(novel)


def training_objectives(train: Any) -> Any:
    """The search's scorer: both objectives from the training set alone (``js``: JS
    distance to the class-1 training compositions' site distributions; ``novel``: distinct
    samples outside the training set)."""
    from elpagen import metrics

    def score(s: Any) -> dict[str, Any]:
        return {"js": metrics.training_js_objective(s.codes, train.codes, train.classes,
                                                    TARGET_CLASS, space=train.space),
                "novel": metrics.n_novel_unique(s.codes, train.codes, train.space.n_grid)}

    return score


def run_worker(spec: SearchSpec, index: int = 0, n_workers: int = 1) -> int:
    """One worker: run trials until the study holds ``spec.n_trials`` completed ones.

    Returns the number of trials this worker completed.
    """
    import optuna

    from elpagen import data

    quiet_optuna()
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
        n = trial_counts(study)
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
            raise UsageError(
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

    quiet_optuna()
    train = data.load_training_set(spec.data, verify=spec.verify)
    study = prepare_study(spec, train.sha256)
    n = trial_counts(study)
    if n["COMPLETE"] >= spec.n_trials:
        return n
    if workers == 1:
        run_worker(spec)
        return trial_counts(study)
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
        raise UsageError(
            f"{len(bad)} of {workers} workers failed ({codes}); completed trials are kept, "
            "rerun the same command to continue"
        )
    return trial_counts(study)
