"""Bad input, round three (issue 17): broken pipes, machine limits, unreachable schedulers,
leftovers of a refused start, a killed run's record, an unwritable cache and messages."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import warnings

import pytest
from cli_helpers import one_line_error, run

from elpagen import cli
from elpagen import reference as reference_module
from elpagen.study import store

TINY = ["--quick", "-q", "--seeds", "2", "--set", "vae.steps=10", "--set", "rl.steps=10"]


# --------------------------------------------------------------------------- broken pipes


def _closed_pipe_run(*argv: str) -> subprocess.CompletedProcess:
    """Run ``elpagen ARGV`` with stdout a pipe nobody reads any more (``| head -c 0``)."""
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run([sys.executable, "-m", "elpagen.cli", *argv], stdout=w,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)


@pytest.mark.parametrize("argv", [["data"], ["data", "--json"], ["evaluate", "-c", "1", "--json"]])
def test_a_closed_pipe_ends_quietly(argv, tmp_path, cache_dir):
    if argv[0] == "evaluate":
        samples = tmp_path / "s.csv"
        samples.write_text("A,B,C,D\nNa,Cs,Al,F\n")
        argv = [*argv, str(samples), "--cache-dir", str(cache_dir), "-q"]
    p = _closed_pipe_run(*argv)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr and "bug" not in p.stderr and "Exception" not in p.stderr
    assert p.stderr == "", p.stderr


def test_a_broken_pipe_in_process(capsys, monkeypatch):
    from elpagen.cli import data as data_cmds

    def closed(_args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(data_cmds, "cmd_data", closed)
    code, _, err = run(capsys, "data")
    assert code == 0 and err == ""


def test_a_broken_pipe_elsewhere_is_still_a_bug(tmp_path):
    """Only stdout's reader going away is quiet: a broken socket keeps its traceback."""
    code = (
        "import sys\n"
        "from elpagen import cli\n"
        "from elpagen.cli import data\n"
        "def broken(args):\n"
        "    raise BrokenPipeError(32, 'Broken pipe')\n"
        "data.cmd_data = broken\n"
        "sys.exit(cli.main(['data']))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)
    assert p.returncode == cli.EXIT_BUG, p.stderr
    assert "Traceback" in p.stderr and "this is a bug" in p.stderr


# --------------------------------------------------------------------------- --workers


def _capture_workers(monkeypatch):
    from elpagen.study import distributed

    seen = {}

    @contextlib.contextmanager
    def fake_connect(workers, scheduler, client, log, *a, **k):
        seen["workers"] = workers
        raise distributed.StudyError("stop here")
        yield  # pragma: no cover

    monkeypatch.setattr(distributed, "_connect", fake_connect)
    return seen


@pytest.mark.parametrize("cores, gib, want", [(2, 64, 2), (16, 3.5, 3), (16, 0.5, 1)])
def test_workers_past_the_machine_are_capped(cores, gib, want, monkeypatch):
    pytest.importorskip("distributed")
    from elpagen import memory, threads
    from elpagen.study import distributed

    monkeypatch.setattr(threads, "available_cores", lambda: cores)
    monkeypatch.setattr(memory, "available_memory", lambda: int(gib * 2**30))
    seen = _capture_workers(monkeypatch)
    with pytest.warns(UserWarning) as w:
        execute = distributed.executor(workers=1000)
    [msg] = [str(x.message) for x in w]
    assert "--workers 1000" in msg and f"using {want}" in msg and "\n" not in msg
    with pytest.raises(distributed.StudyError, match="stop here"):
        execute(None, [], ["a unit"], set(), print)
    assert seen["workers"] == want
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # within the limit: no warning
        distributed.executor(workers=want)


# --------------------------------------------------------------------------- --scheduler


@pytest.fixture
def closed_port():
    """A TCP port on 127.0.0.1 that is bound but does not listen: connecting is refused."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()[1]
    s.close()


def test_an_unreachable_scheduler_fails_fast(closed_port, tmp_path, data_path, cache_dir,
                                              capsys):
    pytest.importorskip("distributed")
    common = ["study", *TINY, "--data", str(data_path), "--cache-dir", str(cache_dir)]
    cases = [(f"tcp://127.0.0.1:{closed_port}", "nothing listens"),
             ("tcp://127.0.0.1:99999", "port"),
             ("tcp://no-such-host.invalid:8786", "no-such-host.invalid"),
             ("not a url::", "not a url::")]
    for i, (address, needle) in enumerate(cases):
        out = tmp_path / f"o{i}"
        t0 = time.perf_counter()
        line = one_line_error(capsys, *common, "-o", str(out), "--scheduler", address,
                              match=needle)
        assert time.perf_counter() - t0 < 10, line
        assert "scheduler" in line
        assert not out.exists(), address  # refused before anything was created


def test_a_silent_scheduler_times_out_after_connect_timeout(tmp_path, data_path, cache_dir):
    """A port that takes connections but never speaks (not a Dask scheduler, or a hung one)
    fails after --connect-timeout seconds (Dask's own handshake would wait for ever)."""
    pytest.importorskip("distributed")
    out = tmp_path / "o"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
        t0 = time.perf_counter()
        p = subprocess.run(
            [sys.executable, "-m", "elpagen.cli", "study", *TINY, "--data", str(data_path),
             "--cache-dir", str(cache_dir), "-o", str(out), "--scheduler", address,
             "--connect-timeout", "1"], capture_output=True, text=True, timeout=90)
        assert time.perf_counter() - t0 < 30
    assert p.returncode == cli.EXIT_USAGE, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the Dask scheduler")
    assert "within 1 s" in lines[0]
    assert not out.exists()


def test_a_server_that_hangs_up_is_not_a_scheduler():
    pytest.importorskip("distributed")
    import threading

    from elpagen.study import preflight

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        t = threading.Thread(target=lambda: s.accept()[0].close())
        t.start()
        with pytest.raises(preflight.StudyError, match="closed the connection"):
            preflight.check_scheduler(f"tcp://127.0.0.1:{s.getsockname()[1]}", 5)
        t.join()


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf", "1e9", "soon"])
def test_connect_timeout_is_checked(bad, tmp_path, capsys):
    pytest.importorskip("distributed")
    out = tmp_path / "o"
    argv = ["study", "-q", "-o", str(out), "--scheduler", "tcp://127.0.0.1:8786",
            "--connect-timeout", bad]
    if bad == "soon":  # not a number: argparse's usage error
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == cli.EXIT_USAGE
        assert "--connect-timeout" in capsys.readouterr().err
    else:
        one_line_error(capsys, *argv, match="--connect-timeout")
    assert not out.exists()
    if bad == "0":
        one_line_error(capsys, "study", "-q", "-o", str(out), "--connect-timeout", "5",
                       match="--scheduler")


# --------------------------------------------------------------------------- leftovers


@pytest.mark.parametrize("opts", [["--scheduler", "not a url::"], ["--workers", "-3"],
                                  ["--scheduler", "tcp://h:8786", "--workers", "2"],
                                  ["--set", "vae.steps=many"], ["--set", "vae.nope=1"],
                                  ["--frontier5-samples", "-1"]])
def test_a_refused_start_leaves_nothing(opts, tmp_path, data_path, cache_dir, capsys):
    pytest.importorskip("distributed")
    out = tmp_path / "X"
    one_line_error(capsys, "study", "--quick", "-q", "--data", str(data_path), "--cache-dir",
                   str(cache_dir), "-o", str(out), *opts)
    assert not out.exists()


# --------------------------------------------------------------------------- killed runs


UNIT = {"experiment": "class1", "model": "vae", "target_class": 1, "train_size": 100,
        "seed": 0, "payload": {"x": 1}, "seconds": 0.1}


def test_a_killed_run_counts_the_units_it_stored(tmp_path):
    """A run that never finishes (kill -9 after 7 units) keeps new_units = 7 in its row."""
    settings = {"protocol": "fast"}
    with store.Store.open(tmp_path, settings) as s:
        first = s.start_run({"status": "running", "new_units": 0})
        for i in range(7):
            s.put_unit(f"u{i}", **UNIT)
        assert s.runs()[-1]["new_units"] == 7  # counted as it goes
        # ... killed here: no finish_run
    with store.Store.open(tmp_path, settings) as s:
        assert s.close_stale_runs() == [first]
        second = s.start_run({"status": "running", "new_units": 0})
        s.put_unit("u7", **UNIT)
        s.finish_run(second, {"status": "finished", "new_units": 1})
        runs = {r["id"]: r for r in s.runs()}
    assert runs[first]["new_units"] == 7 and runs[first]["status"] == "interrupted"
    assert runs[second]["new_units"] == 1 and runs[second]["status"] == "finished"


# --------------------------------------------------------------------------- the cache


@pytest.fixture
def unwritable(tmp_path):
    """A cache directory that cannot be created: its parent is a regular file. (Tests may
    run as root, which ignores permission bits; this refuses every user.)"""
    f = tmp_path / "a-file"
    f.write_text("not a directory")
    return f / "cache"


@pytest.fixture
def cheap_build(monkeypatch, reference):
    """oracle.build returns the session's reference energies (no minute of computing)."""
    calls = []

    def build(*a, **k):
        calls.append(1)
        return reference

    monkeypatch.setattr(reference_module, "build", build)
    return calls


def test_rebuild_into_an_unwritable_cache_fails_before_computing(unwritable, cheap_build,
                                                                 capsys):
    line = one_line_error(capsys, "reference", "--rebuild", "--cache-dir", str(unwritable),
                          match=(str(unwritable), "--cache-dir"))
    assert "not writable" in line or "cannot write" in line
    assert cheap_build == []  # nothing computed


def test_a_read_only_empty_cache_is_used_without_caching(unwritable, cheap_build, tmp_path,
                                                         capsys):
    samples = tmp_path / "s.csv"
    samples.write_text("A,B,C,D\nNa,Cs,Al,F\n")
    code, out, err = run(capsys, "evaluate", str(samples), "-c", "1", "--json", "-q",
                         "--cache-dir", str(unwritable))
    assert code == 0, err
    assert '"valid"' in out or "valid" in out
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "not cached" in lines[0]
    assert str(unwritable) in lines[0]
    assert cheap_build == [1]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_a_chmod_read_only_cache_directory(tmp_path, cheap_build, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        one_line_error(capsys, "reference", "--rebuild", "--cache-dir", str(ro),
                       match=str(ro))
        assert cheap_build == []
    finally:
        ro.chmod(0o755)


def test_the_writability_check_really_writes(tmp_path, train, cheap_build, monkeypatch):
    """Permission bits are not asked (root ignores them): a file is written for real, and
    a directory that refuses it (here a read-only file system) is found before building."""
    import tempfile

    from elpagen import errors

    new = tmp_path / "new" / "dir"
    reference_module.load_or_build(train, cache_dir=new)
    assert [p.name for p in new.iterdir()] == [reference_module.cache_path(
        train, reference_module.DEFAULT_SIGMA, reference_module.DEFAULT_LAMBDA,
        new).name]  # no probe left

    def read_only(*a, **k):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    with pytest.raises(errors.InputError, match="Read-only file system"):
        reference_module.load_or_build(train, cache_dir=tmp_path / "ro", rebuild=True)
    assert len(cheap_build) == 1
    with pytest.warns(reference_module.ReferenceCacheWarning, match="not cached"):
        _, loaded = reference_module.load_or_build(train, cache_dir=tmp_path / "ro")
    assert not loaded and len(cheap_build) == 2
    assert list((tmp_path / "ro").iterdir()) == []


# --------------------------------------------------------------------------- messages


def test_config_that_is_a_directory(tmp_path, capsys):
    line = one_line_error(capsys, "train", "vae", "-o", str(tmp_path / "m"), "--config",
                          str(tmp_path), match=str(tmp_path))
    assert "is a directory" in line and "not found" not in line


def test_config_with_a_byte_order_mark(tmp_path):
    from elpagen.cli.common import parse_overrides

    cfg = tmp_path / "c.json"
    cfg.write_bytes(b"\xef\xbb\xbf" + b'{"steps": 5}')
    assert parse_overrides(None, str(cfg)) == {"steps": 5}


def test_long_set_values_are_cut_in_messages(tmp_path, capsys):
    long = "x" * 5000
    for cmd, pair in [(["train", "vae", "-o", str(tmp_path / "m")], f"steps={long}"),
                      (["train", "vae", "-o", str(tmp_path / "m")], long),
                      (["train", "vae", "-o", str(tmp_path / "m")], f"{long}=1"),
                      (["study", "-q", "-o", str(tmp_path / "s")], f"vae.steps={long}"),
                      (["study", "-q", "-o", str(tmp_path / "s")], f"{long}=1")]:
        line = one_line_error(capsys, *cmd, "--set", pair)
        assert len(line) < 400, line[:500]
        assert "xxx..." in line
    assert not (tmp_path / "s").exists()


def test_mysql_storage_names_its_driver(tmp_path, capsys):
    pytest.importorskip("optuna")
    line = one_line_error(capsys, "search", "vae", "--trials", "1", "--storage",
                          "mysql://u:secret@127.0.0.1/db")
    assert "postgres" not in line.lower() or "sqlite" in line
    assert "elpagen[postgres]" not in line
    assert "MySQLdb" in line or "pymysql" in line
    assert "secret" not in line


def test_report_of_a_csv_suggests_evaluate(tmp_path, capsys):
    s = tmp_path / "s.csv"
    s.write_text("A,B,C,D\nNa,Cs,Al,F\n")
    line = one_line_error(capsys, "report", str(s), match="not a study directory")
    assert f"elpagen evaluate {s}" in line and f"study -o {s}" not in line
    missing = tmp_path / "missing.csv"
    line = one_line_error(capsys, "report", str(missing), match="not a study directory")
    assert f"elpagen evaluate {missing}" in line and f"study -o {missing}" not in line
