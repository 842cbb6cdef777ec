"""The study on a Dask cluster (`elpagen study --workers N`, `--scheduler ADDRESS`).

Small on purpose: tiny training budgets and a cut-down plan (classes 1 and 5 of four models,
2 seeds: 16 units, 5 fits), the same for the serial run and the cluster runs, so every test
compares the cluster's store with the serial one, number for number.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from distributed import Client, LocalCluster, WorkerPlugin  # noqa: E402

from elpagen import cli  # noqa: E402
from elpagen.study import distributed, store  # noqa: E402
from elpagen.study import runner as study_runner  # noqa: E402

TINY = ["--quick", "-q", "--seeds", "2", "--set", "vae.steps=10", "--set", "rl.steps=10"]
EXPERIMENTS = ("class1", "class5")
MODELS = ("vae", "rl", "marginal", "random")
TIMINGS = {"fit_seconds", "sample_seconds", "eval_seconds", "ensemble_seconds",
           "seconds_per_member"}
FULL_PLAN = study_runner.plan


def small_plan(settings):
    return [u for u in FULL_PLAN(settings) if u.experiment in EXPERIMENTS and u.model in MODELS]


@pytest.fixture(autouse=True)
def _small(monkeypatch):
    monkeypatch.setattr(study_runner, "plan", small_plan)


def _numbers(d: Path) -> tuple[dict, dict]:
    """Units (status and payload) and fit records of a store, timings left out."""
    with sqlite3.connect(f"file:{d / store.STORE_NAME}?mode=ro", uri=True) as c:
        units = {k: (s, {a: b for a, b in json.loads(p).items() if a not in TIMINGS})
                 for k, s, p in c.execute("SELECT key, status, payload FROM units")}
        fits = {k: {a: b for a, b in json.loads(p).items() if a not in TIMINGS}
                for k, p in c.execute("SELECT key, payload FROM fits")}
    c.close()
    return units, fits


@pytest.fixture(scope="module")
def serial(tmp_path_factory, data_path, cache_dir):
    d = tmp_path_factory.mktemp("serial") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(study_runner, "plan", small_plan)
        mp.setenv("ELPAGEN_CACHE", str(cache_dir))  # as the other tests (autouse _env)
        args = ["study", *TINY, "--data", str(data_path), "--cache-dir", str(cache_dir),
                "-o", str(d)]
        assert cli.main(args) == 0
    units, fits = _numbers(d)
    assert len(units) == len(EXPERIMENTS) * len(MODELS) * 2
    assert {s for s, _ in units.values()} == {"ok"}
    return units, fits


def test_workers_2_gives_the_serial_numbers(serial, tmp_path, data_path, cache_dir):
    d = tmp_path / "out"
    args = ["study", *TINY, "--data", str(data_path), "--cache-dir", str(cache_dir),
            "-o", str(d), "--workers", "2"]
    assert cli.main(args) == 0
    assert _numbers(d) == serial
    # The driver checkpointed the torch fits, as the serial runner does.
    for fk in ("vae_all_nfull", "rl_c1_nfull", "rl_c5_nfull"):
        for s in (0, 1):
            assert (d / "checkpoints" / fk / f"s{s}" / "model.json").is_file()
    with store.Store.open_readonly(d) as s:
        assert [r["status"] for r in s.runs()] == ["finished"]


class KillOnce(WorkerPlugin):
    """Kills its worker process (os._exit, as kill -9 would) shortly after it starts the
    first task whose key starts with ``prefix``; once per cluster (a marker file)."""

    name = "elpagen-test-kill-once"

    def __init__(self, prefix: str, marker: str) -> None:
        self.prefix, self.marker = prefix, marker

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing" or not str(key).startswith(self.prefix):
            return
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        threading.Timer(0.1, os._exit, (1,)).start()  # mid-unit


def test_killed_worker_and_ctrl_c_on_the_driver(serial, tmp_path, data_path, cache_dir,
                                                monkeypatch):
    """Ctrl-C on the driver keeps the finished units; the resumed run loses a worker in the
    middle of a unit and still ends with the serial numbers."""
    d = tmp_path / "out"
    marker = tmp_path / "killed"
    kw = {"quick": True, "n_seeds": 2, "data_path": str(data_path),
          "cache_dir": str(cache_dir), "progress": False,
          "overrides": {"vae": {"steps": "10"}, "rl": {"steps": "10"}}}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        pids = set(client.run(os.getpid).values())
        calls = {"n": 0}
        put_unit = store.Store.put_unit

        def ctrl_c_at_third_unit(self, *a, **k):
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt
            return put_unit(self, *a, **k)

        with monkeypatch.context() as mp:
            mp.setattr(store.Store, "put_unit", ctrl_c_at_third_unit)
            with pytest.raises(KeyboardInterrupt):
                study_runner.run_study(d, execute=distributed.executor(client=client), **kw)
        units, _ = _numbers(d)
        assert len(units) == 2
        client.register_plugin(KillOnce("elpagen-unit-class5/rl/", str(marker)))
        # The resume attaches by address, as `elpagen study --scheduler ADDRESS` does.
        study_runner.run_study(
            d, execute=distributed.executor(scheduler=cluster.scheduler_address), **kw)
        assert marker.exists()  # a worker did die in the middle of a class-5 rl unit
        client.wait_for_workers(2)
        assert set(client.run(os.getpid).values()) != pids  # ... and the nanny replaced it
    units, fits = _numbers(d)
    assert units == serial[0]
    # Fit records: the same ensembles (a fit interrupted before it finished would have been
    # retrained with the seeds still missing, as a serial resume does).
    assert fits == serial[1]
    with store.Store.open_readonly(d) as s:
        assert [r["status"] for r in s.runs()] == ["interrupted", "finished"]


def test_cluster_options_are_checked(tmp_path, data_path, cache_dir, monkeypatch, capsys):
    common = ["study", *TINY, "--data", str(data_path), "--cache-dir", str(cache_dir)]

    def one_line_error(args, *needles):
        assert cli.main([*common, *args]) == cli.EXIT_USAGE
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        for n in needles:
            assert n in err, err

    one_line_error(["-o", str(tmp_path / "a"), "--workers", "0"], "--workers")
    one_line_error(["-o", str(tmp_path / "b"), "--workers", "2", "--scheduler", "tcp://x:1"],
                   "not both")
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT", 2)
    one_line_error(["-o", str(tmp_path / "c"), "--scheduler", "tcp://127.0.0.1:9"],
                   "cannot reach the Dask scheduler")
    with monkeypatch.context() as mp:  # the core install, without the cluster extra
        mp.setitem(__import__("sys").modules, "distributed", None)
        one_line_error(["-o", str(tmp_path / "d"), "--workers", "2"],
                       "pip install 'elpagen[cluster]'")
    assert not (tmp_path / "a").exists() and not (tmp_path / "d").exists()
