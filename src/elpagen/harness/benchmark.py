"""The benchmark: every model of a :class:`~elpagen.harness.config.RunConfig` fitted once
per seed, sampled and scored against the reference energies; mean +- std per model.

This layer, the study and the reports are the only ones that bring models and the
reference energies together: models are fitted on the training set alone, their samples
are then scored with the reference classes (:func:`elpagen.harness.trial.reference_scorer`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue as queue_module
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from elpagen import catalogue, generations, metric_specs, metrics, progress
from elpagen.data import TrainingSet
from elpagen.errors import UserError
from elpagen.expected import rarefaction_draws
from elpagen.generator import GeneratorError
from elpagen.harness.config import RunConfig
from elpagen.harness.frontier import (
    class_label,
    estimate_from_draws,
    mean_spread,
    optional_columns,
    run_label,
)
from elpagen.harness.trial import fit, reference_expectation, reference_scorer, run_trial
from elpagen.machine import environment
from elpagen.metrics import METRIC_KEYS
from elpagen.models.plugins import first_line
from elpagen.seeds import sample_seed

Log = Callable[[str], None]
#: Receives the progress of one model's fit: (phase, done, total); phase is "fitting" (no
#: count), "training" (steps of a torch model's batched ensemble) or "sampling" (seeds).
Report = Callable[[str, int, int], None]
#: Per-model counts kept in the summary besides the metrics.
COUNT_KEYS = ("n_unique", "n_novel", "n_valid", "n_samples")
#: Seconds between two progress lines of one model when stderr is not a terminal.
LINE_INTERVAL = 10.0


def benchmark_model(name: str, train: TrainingSet, ref_classes: np.ndarray,
                    config: RunConfig, threads: int | None = None,
                    spec: catalogue.ModelSpec | None = None,
                    report: Report | None = None) -> dict[str, Any]:
    """Fit, sample and score one model for every seed (runs in a worker process too):
    its summary (mean +- std), timings and per-seed metrics. ``spec``: the record of a
    model registered in the parent process (a fresh worker knows only the built-ins).
    ``report``: where the fit reports its progress (:data:`Report`; the torch models'
    training loops report every step count through :mod:`elpagen.models.training`)."""
    if threads is not None:  # a fresh worker process: the parent's thread settings
        from elpagen import threads as _threads

        _threads.configure(threads)
    if spec is not None:
        catalogue.register(spec, replace=True)
    hook: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if report is not None:
        from elpagen.models.training import reporting_to

        report("fitting", 0, 0)
        hook = reporting_to(lambda _desc, done, total: report("training", done, total))
    t0 = time.perf_counter()
    with hook:
        gens = fit(name, train, config.seeds, config.target_class, protocol=config.protocol,
                   overrides=config.overrides_of(name), device=config.device,
                   progress=config.progress, mixture=config.mixture)
    fit_seconds = time.perf_counter() - t0
    score = reference_scorer(ref_classes, train.codes, config.target_class, train.space)
    expect = reference_expectation(ref_classes, config.target_class, train.space)
    # Models without a known distribution: the expectations estimated from K draws of
    # their own stream instead (rarefied; 0: none).
    draws = rarefaction_draws(config.samples, config.rarefaction_draws)
    per_seed, sample_seconds, kept, label, estimate_seconds = [], 0.0, [], None, 0.0
    for i, (seed, g) in enumerate(zip(config.seeds, gens, strict=True)):
        if report is not None:
            report("sampling", i, len(gens))
        r = run_trial(g, name, config.target_class, config.samples, seed, score,
                      progress=config.progress, expect=expect, keep_codes=True,
                      timeout=config.timeout)
        sample_seconds += r.sample_seconds
        # The samples, compact, for the submission (the leaderboard scores them again).
        kept.append(generations.encode(seed, r.codes, r.n_drawn))
        # The exact expectations beside the sampled values (elpagen.expected), flat per seed.
        exp = {f"expected_{k}": v for k, v in (r.expected or {}).items()}
        if r.expected is None and draws:
            t1 = time.perf_counter()
            est, label = estimate_from_draws(g, name, config.target_class, config.samples,
                                             draws, sample_seed(seed), ref_classes,
                                             train.space, timeout=config.timeout)
            estimate_seconds += time.perf_counter() - t1
            exp = {f"expected_{k}": v for k, v in est.items()}
        per_seed.append({**r.metrics, **exp, "seed": int(seed)})
    seconds = time.perf_counter() - t0
    agg = metrics.aggregate(per_seed)
    out: dict[str, Any] = {k: agg[k] for k in METRIC_KEYS}
    out.update({k: agg[k] for k in metric_specs.keys(metric_specs.View.DISCOVERY)
                if k in agg})
    out.update({k: agg[k] for k in COUNT_KEYS if k in agg})
    expected = {k.removeprefix("expected_"): v for k, v in agg.items()
                if k.startswith("expected_")}
    if expected:  # models.<name>.expected.<metric> = {mean, std} over seeds
        out["expected"] = expected
    if label is not None:  # estimated, not exact: {"estimate": "rarefied", "k": K}
        out["expected_estimate"] = label
        out["estimate_seconds"] = round(estimate_seconds, 2)
    out["seconds"] = round(seconds, 2)
    out["fit_seconds"] = round(fit_seconds, 2)
    out["sample_seconds"] = round(sample_seconds, 2)
    out["per_seed"] = per_seed
    out["generations"] = kept
    return out


def run_benchmark(train: TrainingSet, ref_classes: np.ndarray, config: RunConfig,
                  log: Log | None = None) -> dict[str, Any]:
    """Train, sample and evaluate every model for every seed; mean +- std per model.

    ``config.jobs`` > 1 runs that many models at once, each in its own process with one
    thread (:mod:`elpagen.threads`): parallelism across fits holds up on a shared machine
    where intra-op threads do not. Every fit is seeded, so the numbers do not depend on
    ``jobs``. With ``config.progress`` every running model shows its progress on stderr
    (:class:`ProgressBoard`), from the worker processes too.
    """
    results: dict[str, Any] = {}
    jobs = min(config.jobs, len(config.models))
    if jobs == 1:
        board = ProgressBoard(queue_module.Queue(), log, slots=1) if config.progress else None
        say = (board.log if board else log) if log else None
        quiet = dataclasses.replace(config, progress=False)  # the board shows the progress
        with board or contextlib.nullcontext():
            for name in config.models:
                if say:
                    say(f"{name}: fitting {len(config.seeds)} seed(s) ({config.protocol} "
                        "protocol)")
                results[name] = benchmark_model(
                    name, train, ref_classes, quiet if board else config,
                    report=board.reporter(name) if board else None)
                if board:
                    board.finish(name)
                if say:
                    say(f"{name}: done in {results[name]['seconds']:.1f} s")
    else:
        results = _run_parallel(train, ref_classes, config, jobs, log)
    return {
        **config.header(ref_classes, train),
        "models": {name: results[name] for name in config.models},  # the order asked for
        "environment": environment(),
    }


# The progress queue of a worker process (set by the pool's initializer; None: quiet).
_worker_queue: Any = None


def _init_worker(progress_queue: Any) -> None:
    global _worker_queue
    _worker_queue = progress_queue


def _benchmark_in_worker(name: str, train: TrainingSet, ref_classes: np.ndarray,
                         config: RunConfig, threads: int,
                         spec: catalogue.ModelSpec | None) -> dict[str, Any]:
    """:func:`benchmark_model` in a worker, reporting to the parent's queue."""
    q = _worker_queue
    report = None if q is None else (lambda phase, done, total:
                                     q.put((name, phase, done, total)))
    return benchmark_model(name, train, ref_classes, config, threads, spec, report=report)


class ModelsFailedError(GeneratorError):
    """Models of a parallel benchmark that failed (a plug-in's error, a worker process
    that died) while the others finished: one line naming them; ``results`` holds the
    finished models' results (keyed by name), ``result`` them as a benchmark result (its
    table: :func:`benchmark_table`), ``failed`` each failed model's line."""

    def __init__(self, failed: Mapping[str, str], results: Mapping[str, Any]) -> None:
        self.failed, self.results = dict(failed), dict(results)
        self.result: dict[str, Any] = {}
        kept = (f"; the other models finished ({', '.join(self.results)}): rerun without "
                f"{', '.join(map(repr, self.failed))}") if self.results else ""
        super().__init__("; ".join(self.failed.values()) + kept)


def _death(name: str, processes: list[Any]) -> str:
    """The line of a model whose worker process died (no exception could come back)."""
    import signal

    codes = [p.exitcode for p in processes if getattr(p, "exitcode", None) is not None]
    how = "it exited"
    if codes and codes[0] < 0:
        try:
            how = f"killed by {signal.Signals(-codes[0]).name}"
        except ValueError:
            how = f"killed by signal {-codes[0]}"
    elif codes:
        how = f"it exited with code {codes[0]}"
    return (f"generator {name!r}: its worker process died ({how}; the out-of-memory killer "
            "does this when memory runs out): rerun it with fewer samples or --jobs 1")


def _run_parallel(train: TrainingSet, ref_classes: np.ndarray, config: RunConfig, jobs: int,
                  log: Log | None) -> dict[str, Any]:
    """Each model in a worker process of its own (spawned: no forked OpenMP state), ``jobs``
    at a time; the workers report their progress through a queue to this process's
    :class:`ProgressBoard`. A model that fails with a user error (a plug-in's) or whose
    process dies does not stop the others: once they are done, one
    :class:`ModelsFailedError` names it and carries their results. A bug stops the run."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    import torch

    threads = torch.get_num_threads()
    quiet = dataclasses.replace(config, progress=False)  # no tqdm bars in the workers
    results: dict[str, Any] = {}
    failed: dict[str, str] = {}
    ctx = multiprocessing.get_context("spawn")
    # A spawn context's queue reaches the workers through the pool's initializer (it is
    # handed over while they start; a queue cannot be an argument of a submitted call).
    progress_queue = ctx.Queue() if config.progress else None
    board = ProgressBoard(progress_queue, log, slots=jobs) if progress_queue else None
    say = (board.log if board else log) if log else None
    builtin = {s.name for s in catalogue.BUILTIN}
    waiting = list(config.models)  # started in the order given: slowest models first
    running: dict[Future[Any], tuple[str, ProcessPoolExecutor, list[Any]]] = {}
    if say:
        say(f"running {len(config.models)} models, {jobs} at a time (one process each, "
            f"{threads} thread(s) per process)")
    with board or contextlib.nullcontext():
        try:
            while waiting or running:
                while waiting and len(running) < jobs:
                    name = waiting.pop(0)
                    spec = None if name in builtin else catalogue.get(name)
                    # A pool of one process per model: a process that dies (the OOM killer)
                    # breaks its own pool only, so it is named and the others go on.
                    pool = ProcessPoolExecutor(max_workers=1, mp_context=ctx,
                                               initializer=_init_worker,
                                               initargs=(progress_queue,))
                    fut = pool.submit(_benchmark_in_worker, name, train, ref_classes, quiet,
                                      threads, spec)
                    # Its process, to say how it died (the pool forgets it when broken).
                    running[fut] = (name, pool, list((getattr(pool, "_processes", None)
                                                      or {}).values()))
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    name, pool, processes = running.pop(fut)
                    pool.shutdown(wait=True)
                    try:
                        results[name] = fut.result()
                    except BrokenProcessPool:
                        failed[name] = _death(name, processes)
                    except UserError as e:
                        failed[name] = first_line(e)
                    if board:
                        board.finish(name)
                    if say:
                        say(f"{name}: failed" if name in failed else
                            f"{name}: done in {results[name]['seconds']:.1f} s")
        finally:  # a bug or Ctrl-C: the other models stop too
            for _, pool, _ in running.values():
                pool.shutdown(wait=True, cancel_futures=True)
    if failed:  # in the order asked for
        err = ModelsFailedError({n: failed[n] for n in config.models if n in failed},
                                {n: results[n] for n in config.models if n in results})
        # The finished models as a result of their own (the command line prints its table).
        err.result = {**config.header(ref_classes, train), "models": err.results,
                      "environment": environment()}
        raise err
    return results


# --------------------------------------------------------------------------- progress


# One rule for bars or lines, and one duration format, for every command.
format_duration = progress.format_duration
_terminal = progress.terminal


@dataclasses.dataclass
class _Model:
    """What one running model was last reported doing."""

    phase: str
    done: int
    total: int
    t_phase: float
    t_line: float = 0.0
    bar: Any = None
    slot: int = 0


class ProgressBoard:
    """The progress of the running models on stderr: one tqdm bar per running model when
    stderr is a terminal, else one line per model at each change of phase and every
    :data:`LINE_INTERVAL` seconds (steps done / total, and about how long the phase has
    left). Fed by ``(model, phase, done, total)`` messages on ``queue`` (the workers' or
    this process's own), which a thread of this process reads; a context manager."""

    def __init__(self, queue: Any, log: Log | None, slots: int = 1,
                 tty: bool | None = None) -> None:
        self.queue = queue
        self.sink: Log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.tty = _terminal() if tty is None else tty
        self.lock = threading.Lock()
        self.models: dict[str, _Model] = {}
        self.finished: set[str] = set()
        self.free = list(range(slots))
        self.thread = threading.Thread(target=self._listen, name="elpagen-progress",
                                       daemon=True)

    def __enter__(self) -> ProgressBoard:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.queue.put(None)
        self.thread.join(timeout=30)
        with self.lock:
            for m in self.models.values():
                if m.bar is not None:
                    m.bar.close()
                    m.bar = None

    def reporter(self, model: str) -> Report:
        """The :data:`Report` of ``model`` in this process."""
        return lambda phase, done, total: self.queue.put((model, phase, done, total))

    def log(self, msg: str) -> None:
        """A status line that keeps the bars intact."""
        with self.lock:
            if self.tty:
                from tqdm.auto import tqdm

                tqdm.write(msg, file=sys.stderr)
            else:
                self.sink(msg)

    def finish(self, model: str) -> None:
        with self.lock:
            self.finished.add(model)
            m = self.models.pop(model, None)
            if m is not None and m.bar is not None:
                m.bar.close()
                self.free.append(m.slot)
                self.free.sort()

    def _listen(self) -> None:
        while True:
            try:
                msg = self.queue.get(timeout=1.0)
            except queue_module.Empty:
                self._tick()
                continue
            except (EOFError, OSError, ValueError):  # the queue is gone
                return
            if msg is None:
                return
            self.update(*msg)

    def update(self, model: str, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        with self.lock:
            if model in self.finished:
                return  # a late message of a model that is done
            m = self.models.get(model)
            changed = m is None or m.phase != phase
            if m is None:
                m = self.models[model] = _Model(phase, done, total, now)
            elif changed:
                m.phase, m.t_phase = phase, now
            m.done, m.total = done, total
            if self.tty:
                self._draw(model, m, changed)
            elif changed and phase == "fitting":
                m.t_line = now  # a line only if the fit runs a while without steps
            elif changed or now - m.t_line >= LINE_INTERVAL:
                self._line(model, m, now)

    def _tick(self) -> None:
        """Models that reported nothing for a while (a fit without steps) still show."""
        now = time.monotonic()
        with self.lock:
            for model, m in self.models.items():
                if self.tty:
                    if m.bar is not None:
                        m.bar.refresh()
                elif now - m.t_line >= LINE_INTERVAL:
                    self._line(model, m, now)

    def _describe(self, m: _Model, now: float) -> str:
        spent = now - m.t_phase
        so_far = f", {format_duration(spent)} so far" if spent >= 1 else ""
        if m.phase == "training" and m.total:
            text = (f"training step {m.done:,}/{m.total:,} ({100 * m.done / m.total:.0f}%)"
                    f"{so_far}")
            if 0 < m.done < m.total:
                text += f", about {format_duration(spent * (m.total - m.done) / m.done)} left"
            return text
        if m.phase == "sampling" and m.total:
            return f"sampling and scoring seed {min(m.done + 1, m.total)}/{m.total}{so_far}"
        return f"{m.phase}{so_far}"

    def _line(self, model: str, m: _Model, now: float) -> None:
        m.t_line = now
        self.sink(f"  {model}: {self._describe(m, now)}")

    def _draw(self, model: str, m: _Model, changed: bool) -> None:
        from tqdm.auto import tqdm

        unit = {"training": "step", "sampling": "seed"}.get(m.phase, "it")
        if m.bar is None:
            m.slot = self.free.pop(0) if self.free else len(self.models)
            m.bar = tqdm(total=m.total or None, desc=f"{model} {m.phase}", unit=unit,
                         position=m.slot, leave=False, file=sys.stderr, dynamic_ncols=True)
        elif changed:
            m.bar.unit = unit
            m.bar.set_description(f"{model} {m.phase}", refresh=False)
            m.bar.reset(total=m.total or None)
        m.bar.n = m.done
        m.bar.refresh()


def benchmark_table(result: Mapping[str, Any]) -> str:
    """A plain-text table of mean +- std per model (``± –`` with one seed: no spread to
    show), with the ideal-coverage bound."""
    cols = metric_specs.columns(metric_specs.View.BENCHMARK) + optional_columns(
        result, result["models"].values())
    head = (f"{'model':<10}" + "".join(f"{c.label:>{c.width}}" for c in cols)
            + f"{'time [s]':>10}")
    lines = [
        f"{run_label(result)}, {result['samples']:,} valid samples, "
        f"{result['seeds']} seed(s), {result['protocol']} protocol",
        head,
        "-" * len(head),
    ]
    screening = [n for n in result["models"] if catalogue.is_screening(n)]
    for name, m in result["models"].items():
        lines.append(
            f"{name + ('*' if name in screening else ''):<10}"
            + "".join(mean_spread(m[c], result["seeds"], c.digits).rjust(c.width)
                      for c in cols)
            + f"{m['seconds']:>10.1f}"
        )
    lines.append(
        f"ideal coverage (uniform draws from {class_label(result)}, "
        f"N_c = {result['class_size']:,}): {result['ideal_coverage']:.5f}"
    )
    if screening:
        lines.append("* screening, not generation: scores the whole space with an energy "
                     "regressor fitted on the training set (docs/design.md)")
    return "\n".join(lines)
