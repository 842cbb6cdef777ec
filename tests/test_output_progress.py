"""One progress wrapper (elpagen.progress): plain lines when stderr is no terminal, bars on
a terminal, nothing under -q/--json."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cli_helpers import run

from elpagen import progress

TINY = ["--models", "vae,marginal", "--set", "steps=20", "-n", "300", "--seeds", "1"]


def test_lines_without_a_terminal(monkeypatch):
    monkeypatch.setattr(progress, "LINE_INTERVAL", 0.0)
    lines: list[str] = []
    with progress.Bar(200, "sampling vae", "sample", sink=lines.append, tty=False) as b:
        b.update(50)
        b.update(150)
    assert lines[0].startswith("sampling vae: 50/200 samples (25%), ")
    assert "about" in lines[0] and "left" in lines[0]
    assert lines[-1].startswith("sampling vae: 200/200 samples (100%)")
    assert lines[-1].endswith("[done]") and len(lines) == 3
    assert not any("\r" in ln for ln in lines)


def test_quick_counters_say_nothing_and_stages_say_each_stage():
    lines: list[str] = []
    with progress.Bar(10, "fast", sink=lines.append, tty=False) as b:
        b.update(10)  # well within the interval
    assert lines == []
    b = progress.Bar(2, "reference energies", "stage", sink=lines.append, tty=False,
                     each_status=True)
    b.status("kernel")
    b.update(1)
    b.status("cholesky")
    b.update(1)
    b.status("done")
    b.close()
    assert [ln.rsplit("[", 1)[1] for ln in lines] == ["kernel]", "cholesky]", "done]"]


def test_bars_on_a_terminal(capsys):
    with progress.Bar(5, "vae x1", "step", tty=True) as b:
        b.update(5)
    assert "vae x1" in capsys.readouterr().err


def test_off_under_configure_and_when_not_enabled():
    assert isinstance(progress.bar(5, "x", enabled=False), progress.Silent)
    progress.configure(False)
    try:
        assert isinstance(progress.bar(5, "x"), progress.Silent)
        assert list(progress.steps(range(3), 3, "x")) == [0, 1, 2]
    finally:
        progress.configure(True)
    assert not isinstance(progress.bar(5, "x"), progress.Silent)


def test_sampling_and_training_write_lines_not_carriage_returns(capsys, monkeypatch,
                                                                tmp_path):
    """capsys's stderr is no terminal, as a log file: before the wrapper, tqdm drew its
    bars there with carriage returns."""
    monkeypatch.setattr(progress, "LINE_INTERVAL", 0.0)
    code, out, err = run(capsys, "train", "vae", "--set", "steps=20", "-o", str(tmp_path))
    assert code == 0, err
    assert "\r" not in err and "vae x1: 20/20 steps (100%)" in err, err
    code, out, err = run(capsys, "sample", "marginal", "-c", "1", "-n", "2000", "--seed", "2",
                         "-o", str(tmp_path / "s.csv"))
    assert code == 0, err
    assert "\r" not in err and "sampling marginal: " in err, err


def test_a_command_with_stderr_in_a_file_writes_no_carriage_return(tmp_path):
    """A real process, its stderr redirected to a file: training and sampling progress
    are plain lines (or none), never tqdm's carriage returns."""
    log = tmp_path / "err.log"
    with open(log, "wb") as f:
        proc = subprocess.run(
            [sys.executable, "-m", "elpagen", "train", "vae", "--set", "steps=30",
             "-o", str(tmp_path / "m")], stdout=subprocess.PIPE, stderr=f,
            env={**os.environ, "COLUMNS": "120"}, timeout=600)
    text = log.read_bytes()
    assert proc.returncode == 0, text
    assert b"\r" not in text and b"trained vae" in text


def test_json_and_quiet_print_no_progress(capsys, cache_dir, tmp_path):
    code, out, err = run(capsys, "benchmark", *TINY, "--json", "--cache-dir", str(cache_dir))
    assert code == 0, err
    assert set(json.loads(out)["models"]) == {"vae", "marginal"}
    assert "training step" not in err and "sampling" not in err, err
    code, out, err = run(capsys, "sample", "marginal", "-c", "1", "-n", "2000", "-q",
                         "-o", str(tmp_path / "s.csv"))
    assert code == 0 and "sampling marginal" not in err, err
