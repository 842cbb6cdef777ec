"""The study's work units on a Dask cluster: ``elpagen study --workers N | --scheduler ADDR``.

Needs the optional extra ``cluster`` (``pip install 'elpagen[cluster]'``); Dask is imported
inside the functions, so the core install never needs it.

Work units on the cluster (docs/study.md, "Running on a cluster"):

* **fit task**, one per fit key (model / class / training size): trains the seeds that key
  still needs as *one batched ensemble*, exactly the seeds the serial runner would train
  together, and returns the fitted members (plain picklable generators) and the fit record;
* **unit task**, one per work unit: samples one member of its fit and scores it, and returns
  the unit's payload. It depends on its fit task, so Dask runs it where the fit lives (or
  moves the fit there).

A unit's numbers therefore depend only on its seeds, never on the worker or the order: the
same ensembles as the serial run, the same sampling seeds, one torch thread per worker.
Only the driver (the process running ``elpagen study``) writes the study directory: it
checkpoints the members of every finished fit (``DIR/checkpoints/...``, as the serial runner)
and records each unit in the store as its future completes, so Ctrl-C on the driver leaves
a store that resumes, serially or on a cluster. A worker killed in the middle of a task loses
that task only: the scheduler reruns it elsewhere (Dask's ``allowed-failures``, default 3),
with the same numbers.

The training set, the reference energies and the settings are broadcast to every worker
once (``Client.scatter``, about 12 MB); the workers never build or load the oracle.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from elpagen.study.plan import CHECKPOINTS, StudyError, Unit
from elpagen.study.runner import Log, Runner, describe_unit

INSTALL_HINT = "pip install 'elpagen[cluster]'"
#: Seconds to wait for a scheduler given by address.
CONNECT_TIMEOUT = 30


def require_dask() -> None:
    """A one-line :class:`StudyError` unless Dask distributed is installed."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise StudyError(f"--workers and --scheduler need Dask distributed: {INSTALL_HINT}") \
            from None


def executor(workers: int | None = None, scheduler: str | None = None,
             client: Any = None) -> Callable[..., int]:
    """The unit executor that :func:`elpagen.study.run_study` takes as ``execute``.

    ``workers``: start a local cluster of that many single-threaded worker processes;
    ``scheduler``: attach to a running Dask scheduler (``tcp://HOST:PORT``); ``client``: use
    an existing :class:`distributed.Client`. Exactly one of the three.
    """
    if sum(x is not None for x in (workers, scheduler, client)) != 1:
        raise StudyError("give one of --workers N or --scheduler ADDRESS")
    if workers is not None and workers < 1:
        raise StudyError(f"--workers must be a positive number of processes, got {workers}")
    require_dask()

    def execute(runner: Runner, units: list[Unit], todo: list[Unit], done: set[str],
                log: Log) -> int:
        if not todo:
            return 0
        with _connect(workers, scheduler, client, log) as c:
            return run_units(c, runner, units, todo, log)

    return execute


@contextlib.contextmanager
def _connect(workers: int | None, scheduler: str | None, client: Any, log: Log) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if client is not None:
        yield client
        return
    if scheduler is not None:
        try:
            c = Client(scheduler, timeout=CONNECT_TIMEOUT)
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
        groups.setdefault(u.fit_key, []).append(u)
    for fk, us in groups.items():
        seeds = sorted({u.seed for u in us})
        for s, gen in _checkpointed(runner, fk, seeds, log).items():
            sub.loaded[(fk, s)] = {"members": {s: gen}, "info": runner.fit_info.get((fk, s), {})}
        missing = [s for s in seeds if (fk, s) not in sub.loaded]
        if missing:
            sub.fit_of[fk] = (us[0], missing)
            sub.submit_fit(fk)
        for u in us:
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
        self.ctx = {"token": self.token, "train": runner.train, "ref": runner.ref,
                    "settings": dict(runner.settings), "overrides": dict(runner.overrides),
                    "device": runner.device, "edges": runner.edges,
                    "cache_files": driver_cache_files()}
        self.ctx_future: Any = None
        self.loaded: dict[tuple[str, int], dict[str, Any]] = {}  # members from checkpoints
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
        f = self.client.submit(unit_task, self.context(), u, self.member(u.fit_key, u.seed),
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
    remaining = Counter(u.fit_key for u in todo)
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
            _record_fit(runner, obj, *sub.fit_of[obj], result, log)
            continue
        u: Unit = obj
        payload, status = result["payload"], result["status"]
        runner.store.put_unit(
            u.key, experiment=u.experiment, model=u.model, target_class=u.target_class,
            train_size=u.train_size, seed=u.seed, payload=payload,
            seconds=result["seconds"], status=status,
        )
        n_done += 1
        new += 1
        remaining[u.fit_key] -= 1
        if remaining[u.fit_key] == 0:
            sub.release(u.fit_key)
        desc = describe_unit(payload, status)
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


def _checkpointed(runner: Runner, fk: str, seeds: list[int], log: Log) -> dict[int, Any]:
    """Members of ``fk`` with a usable checkpoint (the layout of :class:`Runner`, which
    checkpoints the torch models)."""
    from elpagen.models.base import ModelLoadError
    from elpagen.registry import load_model

    out = {}
    for s in seeds:
        ck = runner.dir / CHECKPOINTS / fk.replace("/", "_") / f"s{s}"
        if not (ck / "model.json").is_file():
            continue
        try:
            out[s] = load_model(ck, device="cpu")
            log(f"  {fk} seed {s}: loaded the checkpoint {ck.relative_to(runner.dir)}")
        except ModelLoadError as e:
            log(f"  {fk} seed {s}: unusable checkpoint, refitting ({e})")
    return out


def _record_fit(runner: Runner, fk: str, unit: Unit, seeds: list[int], result: dict[str, Any],
                log: Log) -> None:
    """Checkpoint the members of a finished fit (those the runner checkpoints: the worker's
    runner wrote them) and store its record (driver side)."""
    from elpagen.study import store as store_mod

    info = result["info"]
    if result["checkpointed"]:
        for s in seeds:
            ck = runner.dir / CHECKPOINTS / fk.replace("/", "_") / f"s{s}"
            try:
                result["members"][s].save(ck, overwrite=True)
            except (OSError, RuntimeError) as e:  # torch.save reports ENOSPC as either
                if store_mod.is_disk_full(e) or "space left" in str(e).lower():
                    raise store_mod.disk_full(ck) from None
                raise
        log(f"  {fk}: trained seed(s) {', '.join(map(str, seeds))} as one ensemble in "
            f"{info.get('ensemble_seconds', 0.0):.1f} s on {result['worker']}")
    for s in seeds:
        runner.fit_info[(fk, s)] = info
    runner.store.put_fits([f"{fk}/s{s}" for s in seeds], info)


# --------------------------------------------------------------------------- workers


def driver_cache_files() -> dict[str, bytes]:
    """Cache files besides the oracle that scoring a unit reads when present (the SMACT
    table of the materials extra, ~150 kB): the workers get the driver's, so a unit scores
    the same wherever it runs, whatever the worker's own cache holds."""
    try:
        from elpagen import smact_screen

        path = smact_screen.table_path()
    except ImportError:  # the materials extra is not installed: scoring never reads it
        return {}
    return {path.name: path.read_bytes()} if path.is_file() else {}


class WorkerStore:
    """The store a worker's :class:`Runner` sees: it writes nothing and keeps the fit
    records for the driver, which alone writes the study directory."""

    def __init__(self, edges: Any) -> None:
        self.reference = {"hist_edges": edges}
        self.records: list[dict[str, Any]] = []

    def fits(self) -> dict[str, dict[str, Any]]:
        return {}

    def artifact(self, name: str) -> Any:
        return self.reference if name == "reference" else None

    def put_fits(self, keys: Any, payload: Any) -> None:
        self.records.append(dict(payload))


_RUNNERS: dict[str, Runner] = {}
_LOCK = threading.Lock()  # a worker started with several threads still runs one task at once


def _worker_runner(ctx: dict[str, Any]) -> Runner:
    """This process's runner for the study of ``ctx`` (one torch thread, a private temp dir)."""
    r = _RUNNERS.get(ctx["token"])
    if r is None:
        from elpagen import oracle, threads

        threads.configure(1)
        for old in _RUNNERS.values():  # one study per worker process at a time
            shutil.rmtree(old.dir, ignore_errors=True)
        _RUNNERS.clear()
        tmp = Path(tempfile.mkdtemp(prefix="elpagen-worker-"))
        cache = tmp / "cache"  # this process's cache: the driver's files, nothing else
        cache.mkdir()
        for name, data in ctx["cache_files"].items():
            (cache / name).write_bytes(data)
        os.environ[oracle.CACHE_ENV_VAR] = str(cache)
        r = Runner(tmp, WorkerStore(ctx["edges"]), ctx["train"], ctx["ref"], ctx["settings"],
                   ctx["overrides"], ctx["device"], False, lambda _msg: None)
        _RUNNERS[ctx["token"]] = r
    return r


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return f"worker {get_worker().name}"
    except (ImportError, ValueError):  # not inside a Dask worker
        return "this process"


def fit_task(ctx: dict[str, Any], unit: Unit, seeds: list[int]) -> dict[str, Any]:
    """Train the ensemble of ``seeds`` for the fit of ``unit`` (as the serial runner)."""
    with _LOCK:
        r = _worker_runner(ctx)
        fk = unit.fit_key
        r.fitted.pop(fk, None)
        r.store.records.clear()
        try:
            r.generator(unit, seeds)
            members = {s: r.fitted[fk][s] for s in seeds}
            ck = r.dir / CHECKPOINTS / fk.replace("/", "_")
            checkpointed = all((ck / f"s{s}" / "model.json").is_file() for s in seeds)
        finally:
            r.fitted.pop(fk, None)
            shutil.rmtree(r.dir / CHECKPOINTS, ignore_errors=True)
        info = r.store.records[-1] if r.store.records else {}
        return {"members": members, "info": info, "checkpointed": checkpointed,
                "worker": _worker_name()}


def unit_task(ctx: dict[str, Any], unit: Unit, fit: dict[str, Any]) -> dict[str, Any]:
    """Sample and score one unit with its member of ``fit``; returns the unit's record."""
    with _LOCK:
        r = _worker_runner(ctx)
        t0 = time.perf_counter()
        r.fit_info[(unit.fit_key, unit.seed)] = fit["info"]
        payload, status = r.run(unit, fit["members"][unit.seed])
        return {"payload": payload, "status": status, "seconds": time.perf_counter() - t0,
                "worker": _worker_name()}
