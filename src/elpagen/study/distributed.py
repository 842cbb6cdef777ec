"""The study's work units on a Dask cluster: ``elpagen study --workers N | --scheduler ADDR``.

Needs the optional extra ``cluster`` (``pip install 'elpagen[cluster]'``); Dask is imported
inside the functions, so the core install never needs it.

Work units on the cluster (docs/study.md, "Running on a cluster"):

* **fit task**, one per fit key (model / class / training size): trains the seeds that key
  still needs as *one batched ensemble*, exactly the seeds the serial runner would train
  together (:func:`elpagen.study.unit.fit_members`), and returns the fitted members (plain
  picklable generators) and the fit record;
* **unit task**, one per work unit: samples one member of its fit and scores it
  (:func:`elpagen.study.unit.compute_unit`, the serial runner's function), and returns the
  unit's payload. It depends on its fit task, so Dask runs it where the fit lives (or
  moves the fit there);
* **campaign task**, one per campaign unit (one strategy, class and seed): runs the
  campaign (:func:`elpagen.study.campaign_unit.compute_campaign_unit`, the serial
  runner's function); it needs no fit, so it starts on any free worker.

A unit's numbers therefore depend only on its seeds, never on the worker or the order: the
same ensembles as the serial run, the same sampling seeds, one torch thread per worker.
Only the driver (the process running ``elpagen study``) writes the study directory: it
checkpoints the members of every finished fit (``DIR/checkpoints/...``, as the serial runner)
and records each unit in the store as its future completes, so Ctrl-C on the driver leaves
a store that resumes, serially or on a cluster. A worker killed in the middle of a task loses
that task only: the scheduler reruns it elsewhere (Dask's ``allowed-failures``, default 3),
with the same numbers.

The training set, the reference energies and the settings are broadcast to every worker
once (``Client.scatter``, about 12 MB); the workers never build or load the reference energies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from elpagen import catalogue
from elpagen.study.campaign_unit import compute_campaign_unit, describe_unit, is_campaign
from elpagen.study.plan import StudyError, Unit
from elpagen.study.runner import Log, Runner, load_checkpoints
from elpagen.study.unit import FitResult, compute_unit, fit_key, fit_members

INSTALL_HINT = "pip install 'elpagen[cluster]'"
#: Seconds to wait for a scheduler given by address (``--connect-timeout``).
CONNECT_TIMEOUT = 30


def require_dask() -> None:
    """A one-line :class:`StudyError` unless Dask distributed is installed."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise StudyError(f"--workers and --scheduler need Dask distributed: {INSTALL_HINT}") \
            from None


def executor(workers: int | None = None, scheduler: str | None = None,
             client: Any = None, connect_timeout: float | None = None) -> Callable[..., int]:
    """The unit executor that :func:`elpagen.study.run_study` takes as ``execute``.

    ``workers``: start a local cluster of that many single-threaded worker processes;
    ``scheduler``: attach to a running Dask scheduler (``tcp://HOST:PORT``); ``client``: use
    an existing :class:`distributed.Client`. Exactly one of the three.

    Checked here, before a study creates anything (:mod:`elpagen.study.preflight`):
    ``workers`` is capped at what this machine can run, with a warning; ``scheduler`` must
    answer as a Dask scheduler (a closed port or an unknown host fail at once, silence
    after ``connect_timeout`` seconds, default :data:`CONNECT_TIMEOUT`).
    """
    from elpagen.study import preflight

    if sum(x is not None for x in (workers, scheduler, client)) != 1:
        raise StudyError("give one of --workers N or --scheduler ADDRESS")
    if workers is not None and workers < 1:
        raise StudyError(f"--workers must be a positive number of processes, got {workers}")
    timeout = preflight.check_timeout(CONNECT_TIMEOUT if connect_timeout is None
                                      else connect_timeout)
    require_dask()
    if workers is not None:
        workers = preflight.cap_workers(workers)
    if scheduler is not None:
        preflight.check_scheduler(scheduler, timeout)

    def execute(runner: Runner, units: list[Unit], todo: list[Unit], done: set[str],
                log: Log) -> int:
        if not todo:
            return 0
        with _connect(workers, scheduler, client, log, timeout) as c:
            return run_units(c, runner, units, todo, log)

    return execute


@contextlib.contextmanager
def _connect(workers: int | None, scheduler: str | None, client: Any, log: Log,
             timeout: float | None = None) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if client is not None:
        yield client
        return
    if scheduler is not None:
        try:
            c = Client(scheduler, timeout=CONNECT_TIMEOUT if timeout is None else timeout)
        except (OSError, TimeoutError, ValueError) as e:
            raise StudyError(f"cannot reach the Dask scheduler {scheduler} "
                             f"({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                             "start one with `dask scheduler` or check the address") from None
        try:
            n = len(c.scheduler_info().get("workers", {}))
            log(f"Dask scheduler {scheduler}: {n} worker(s) connected"
                f"{'; waiting for one' if n == 0 else ''}")
            c.wait_for_workers(1)
            yield c
        finally:
            c.close()
        return
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    try:
        c = Client(cluster)
        log(f"Dask local cluster: {workers} worker process(es), 1 thread each "
            f"(scheduler {cluster.scheduler_address})")
        try:
            yield c
        finally:
            c.close()
    finally:
        cluster.close()


# --------------------------------------------------------------------------- driver


def run_units(client: Any, runner: Runner, units: list[Unit], todo: list[Unit],
              log: Log) -> int:
    """Submit the fits and units still to do, record each unit as it completes; returns the
    number of units stored."""
    from distributed import as_completed

    sub = Submitter(client, runner)
    groups: dict[str, list[Unit]] = {}
    for u in todo:
        if not is_campaign(u):
            groups.setdefault(fit_key(u), []).append(u)
    for fk, us in groups.items():
        seeds = sorted({u.seed for u in us})
        for s, gen in load_checkpoints(runner.dir, fk, seeds, "cpu", log).items():
            sub.loaded[(fk, s)] = FitResult({s: gen}, runner.fit_info.get((fk, s), {}))
        missing = [s for s in seeds if (fk, s) not in sub.loaded]
        if missing:
            sub.fit_of[fk] = (us[0], missing)
            sub.submit_fit(fk)
        for u in us:
            sub.submit_unit(u)
    for u in todo:
        if is_campaign(u):
            sub.submit_unit(u)
    try:
        return _collect(sub, units, todo, as_completed(sub.drain()), log)
    except BaseException:
        # Ctrl-C or an error: the cluster (maybe a shared one) stops working for this run.
        with contextlib.suppress(Exception):  # a lost scheduler must not hide the first error
            client.cancel(list(sub.what))
        raise


class Submitter:
    """Submits a study's fits and units to Dask and resubmits those whose inputs the cluster
    lost (data sent from the driver lives on the workers only: when every worker holding it
    is gone, its dependents are cancelled)."""

    #: Submissions of one fit or unit before the study stops.
    MAX_TRIES = 4

    def __init__(self, client: Any, runner: Runner) -> None:
        self.client = client
        self.runner = runner
        self.token = uuid.uuid4().hex[:12]
        self.ctx = {"token": self.token, "train": runner.train, "inputs": runner.inputs,
                    "protocol": runner.settings["protocol"],
                    "overrides": dict(runner.overrides), "device": runner.device,
                    "campaign": runner.settings.get("campaign"),
                    "quick": runner.settings["quick"],
                    "cache_files": driver_cache_files(runner.train.space),
                    # Models registered in the driver (plug-ins): the workers register them
                    # too (their modules must import there: docs/design.md, "Plug-in generators").
                    "plugins": catalogue.plugins(runner.settings["models"])}
        self.ctx_future: Any = None
        self.loaded: dict[tuple[str, int], FitResult] = {}  # members from checkpoints
        self.scattered: dict[tuple[str, int], Any] = {}
        self.fit_of: dict[str, tuple[Unit, list[int]]] = {}  # fit key -> (unit, seeds to train)
        self.fits: dict[str, Any] = {}  # fit key -> its future
        self.what: dict[Any, tuple[str, Any]] = {}  # future -> ("fit", fit key) | ("unit", unit)
        self.tries: Counter[str] = Counter()
        self.new: list[Any] = []  # submitted, not yet handed to as_completed

    def drain(self) -> list[Any]:
        out, self.new = self.new, []
        return out

    def _scatter(self, data: Any) -> Any:
        [f] = self.client.scatter([data], broadcast=True, hash=False)
        return f

    def _key(self, name: str) -> str:
        n = self.tries[name]
        self.tries[name] += 1
        if n >= self.MAX_TRIES:
            raise StudyError(f"the Dask cluster lost {name} {n} times (workers dying?); "
                             "finished units are stored: rerun the same command to resume")
        return f"elpagen-{name}-{self.token}" + (f"-r{n}" if n else "")

    def context(self) -> Any:
        if self.ctx_future is None or self.ctx_future.status != "finished":
            self.ctx_future = self._scatter(self.ctx)
        return self.ctx_future

    def submit_fit(self, fk: str) -> Any:
        unit, seeds = self.fit_of[fk]
        f = self.client.submit(fit_task, self.context(), unit, seeds, key=self._key(f"fit-{fk}"),
                               pure=False, retries=0, priority=1)
        self.fits[fk] = f
        self.what[f] = ("fit", fk)
        self.new.append(f)
        return f

    def member(self, fk: str, seed: int) -> Any:
        """The future holding the member ``seed`` of ``fk`` (a fit or a checkpoint)."""
        if (fk, seed) in self.loaded:
            f = self.scattered.get((fk, seed))
            if f is None or f.status != "finished":
                f = self.scattered[(fk, seed)] = self._scatter(self.loaded[(fk, seed)])
            return f
        f = self.fits[fk]
        return self.submit_fit(fk) if f.status == "cancelled" else f

    def submit_unit(self, u: Unit) -> Any:
        if is_campaign(u):  # no fit to wait for
            f = self.client.submit(campaign_task, self.context(), u,
                                   key=self._key(f"unit-{u.key}"), pure=False, retries=0)
        else:
            f = self.client.submit(unit_task, self.context(), u,
                                   self.member(fit_key(u), u.seed),
                                   key=self._key(f"unit-{u.key}"), pure=False, retries=0)
        self.what[f] = ("unit", u)
        self.new.append(f)
        return f

    def resubmit(self, fut: Any, kind: str, obj: Any) -> Any:
        """A replacement for a cancelled future; None when one was submitted already."""
        if kind == "unit":
            return self.submit_unit(obj)
        return self.submit_fit(obj) if self.fits.get(obj) is fut else None

    def release(self, fk: str) -> None:
        """Nothing needs the members of ``fk`` any more: the workers may free them."""
        self.fits.pop(fk, None)
        for key in [k for k in self.scattered if k[0] == fk]:
            del self.scattered[key]


def _collect(sub: Submitter, units: list[Unit], todo: list[Unit], completed: Any,
             log: Log) -> int:
    """Record fits and units as their futures complete (driver side)."""
    from concurrent.futures import CancelledError

    runner = sub.runner
    remaining = Counter(fit_key(u) for u in todo if not is_campaign(u))
    n_total, n_done, new = len(units), len(units) - len(todo), 0
    for fut in completed:
        kind, obj = sub.what.pop(fut)
        try:
            result = _result(fut, kind, obj)
        except CancelledError:
            again = sub.resubmit(fut, kind, obj)
            if again is not None:
                log(f"  the cluster lost the input of {kind} {getattr(obj, 'key', obj)}: "
                    "resubmitted")
                completed.update(sub.drain())
            continue
        if kind == "fit":
            # Only the driver writes the study directory: checkpoints and the fit record.
            runner.record_fit(sub.fit_of[obj][0], result["fit"], f" on {result['worker']}")
            runner.fitted.pop(obj, None)  # the members live on the workers
            continue
        u: Unit = obj
        payload, status = result["payload"], result["status"]
        runner.store_unit(u, payload, status, result["seconds"])
        n_done += 1
        new += 1
        if not is_campaign(u):
            fk = fit_key(u)
            remaining[fk] -= 1
            if remaining[fk] == 0:
                sub.release(fk)
        desc = describe_unit(u, payload, status)
        log(f"[{n_done}/{n_total}] {u.key}: {desc} ({result['seconds']:.1f} s on "
            f"{result['worker']})")
    return new


def _result(fut: Any, kind: str, obj: Any) -> Any:
    """The future's result; a cancelled one raises CancelledError (the caller resubmits)."""
    from distributed import KilledWorker

    try:
        return fut.result()
    except KilledWorker:
        raise StudyError(
            f"the {kind} {getattr(obj, 'key', obj)} took down Dask workers again and again "
            "(out of memory? give the workers more memory); finished units are stored: rerun "
            "to resume"
        ) from None


# --------------------------------------------------------------------------- workers


def driver_cache_files(space) -> dict[str, bytes]:
    """Cache files besides the reference energies that scoring a unit reads when present (the SMACT
    table of the materials extra, ~150 kB): the workers get the driver's, so a unit scores
    the same wherever it runs, whatever the worker's own cache holds."""
    try:
        from elpagen import smact_screen

        path = smact_screen.table_path(space=space)
    except ImportError:  # the materials extra is not installed: scoring never reads it
        return {}
    return {path.name: path.read_bytes()} if path.is_file() else {}


_CONTEXTS: dict[str, dict[str, Any]] = {}
_LOCK = threading.Lock()  # a worker started with several threads still runs one task at once


def _worker_context(ctx: dict[str, Any]) -> dict[str, Any]:
    """This process's setup for the study of ``ctx``: one torch thread, the driver's cache
    files in a private directory, the training subsets made once."""
    local = _CONTEXTS.get(ctx["token"])
    if local is None:
        import tempfile

        from elpagen import reference, threads

        threads.configure(1)
        _CONTEXTS.clear()  # one study per worker process at a time
        cache = tempfile.mkdtemp(prefix="elpagen-worker-cache-")
        for name, data in ctx["cache_files"].items():  # the driver's files, nothing else
            with open(os.path.join(cache, name), "wb") as f:
                f.write(data)
        os.environ[reference.CACHE_ENV_VAR] = cache
        for spec in ctx.get("plugins", ()):
            catalogue.register(spec, replace=True)
        local = _CONTEXTS[ctx["token"]] = {"subsets": {}}
    return local


def _training_set(ctx: dict[str, Any], size: int) -> Any:
    from elpagen.study.unit import training_subset

    subsets = _worker_context(ctx)["subsets"]
    if size not in subsets:
        subsets[size] = training_subset(ctx["train"], size)
    return subsets[size]


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return f"worker {get_worker().name}"
    except (ImportError, ValueError):  # not inside a Dask worker
        return "this process"


def fit_task(ctx: dict[str, Any], unit: Unit, seeds: list[int]) -> dict[str, Any]:
    """Train the ensemble of ``seeds`` for the fit of ``unit`` (the serial runner's
    :func:`~elpagen.study.unit.fit_members`); the driver checkpoints and records it."""
    with _LOCK:
        train = _training_set(ctx, unit.train_size)
        fit = fit_members(unit, seeds, train, ctx["protocol"],
                          ctx["overrides"].get(unit.model), ctx["device"])
        return {"fit": fit, "worker": _worker_name()}


def unit_task(ctx: dict[str, Any], unit: Unit, fit: Any) -> dict[str, Any]:
    """Sample and score one unit with its member of ``fit`` (a fit task's result or a
    checkpoint the driver loaded); returns the unit's record."""
    with _LOCK:
        t0 = time.perf_counter()
        result: FitResult = fit["fit"] if isinstance(fit, dict) else fit
        payload, status = compute_unit(unit, result.members[unit.seed],
                                       _training_set(ctx, unit.train_size), ctx["inputs"],
                                       result.info)
        return {"payload": payload, "status": status, "seconds": time.perf_counter() - t0,
                "worker": _worker_name()}


def campaign_task(ctx: dict[str, Any], unit: Unit) -> dict[str, Any]:
    """Run one campaign unit (the serial runner's
    :func:`~elpagen.study.campaign_unit.compute_campaign_unit`) with the broadcast
    reference energies, which only the campaign's labeller reads."""
    with _LOCK:
        t0 = time.perf_counter()
        inputs = ctx["inputs"]
        payload, status = compute_campaign_unit(unit, ctx["campaign"], ctx["quick"],
                                                _training_set(ctx, 0), inputs.ref_energies,
                                                inputs.ref_classes)
        return {"payload": payload, "status": status, "seconds": time.perf_counter() - t0,
                "worker": _worker_name()}
