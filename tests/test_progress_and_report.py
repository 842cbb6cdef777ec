"""Progress on long runs (parallel fits, the study, the report) and readable outputs
(single-seed tables, SVG figures, the one-file report, CSV tables)."""

from __future__ import annotations

import csv
import io
import json
import queue
import re
from types import SimpleNamespace

import pytest
from cli_helpers import run

from elpagen import report, study
from elpagen.harness import benchmark, frontier
from elpagen.report import html as report_html

TINY = ["--models", "vae,marginal", "--set", "steps=20", "-n", "300", "--seeds", "1"]
# A progress line of a fit reported by a worker (see ProgressBoard._describe).
WORKER_LINE = re.compile(r"^  (vae|marginal): (training step|sampling and scoring|fitting)",
                         re.M)


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory, data_path, cache_dir, reference):
    """A quick study of two baselines with one seed (12 units and 12 campaign units,
    seconds), its log kept."""
    d = tmp_path_factory.mktemp("tiny") / "study"
    lines: list[str] = []
    study.run_study(d, quick=True, n_seeds=1, models=["marginal", "random"],
                    data_path=str(data_path), cache_dir=str(cache_dir), progress=False,
                    log=lines.append)
    return SimpleNamespace(dir=d, log=lines)


# --------------------------------------------------------------------------- tables


def _m(mean: float) -> dict[str, float]:
    return {"mean": mean, "std": 0.0}


def test_single_seed_tables_show_no_spread():
    metrics = {k: _m(0.5) for k in ("precision", "precision_neighbor", "coverage",
                                     "coverage_neighbor", "js_distance")}
    result = {"target_class": 1, "samples": 300, "seeds": 1, "protocol": "fast",
              "class_size": 3934, "ideal_coverage": 0.07,
              "models": {"vae": {**metrics, "seconds": 1.0}}}
    one = benchmark.benchmark_table(result)
    assert "± 0.0000" not in one and "0.5000 ± –" in one
    two = benchmark.benchmark_table({**result, "seeds": 2})
    assert "0.5000 ± 0.0000" in two  # two fits that agree: a spread of zero, shown

    point = {"knob": 1.0, "precision": _m(0.5), "coverage": _m(0.1), "js_distance": _m(0.3)}
    fr = {"target_class": 1, "samples": 300, "seeds": 1, "protocol": "fast",
          "models": {"vae": {"knob": "prior_scale", "points": [point], "front": [1.0],
                             "hypervolume": _m(0.05)}}}
    text = frontier.frontier_table(fr)
    assert "± 0.0000" not in text and "± 0.00000" not in text
    assert "hypervolume 0.0500 ± –" in text

    def text(cell: str) -> str:
        return re.sub(r"<[^>]+>", "", cell)

    assert text(report_html._pm({"mean": 0.5, "std": 0.0}, n=1)) == "0.5000 ± –"
    assert text(report_html._pm_int({"mean": 7.0, "std": 0.0}, 1)) == "7 ± –"
    assert text(report_html._pm({"mean": 0.5, "std": 0.1}, n=3)) == "0.5000 ± 0.1000"


# --------------------------------------------------------------------------- the study


def test_study_lines_carry_a_time_left_estimate(tiny_study):
    units = [ln for ln in tiny_study.log if ln.startswith("[")]
    assert len(units) == 24, tiny_study.log  # 12 model units, 12 campaign units
    for ln in units[:-1]:
        assert re.search(r"; (about|roughly) \d+(\.\d)? (s|min|h) left", ln), ln
    assert "left" not in units[-1]  # nothing left to estimate
    # An experiment not run yet in this process makes the estimate rough, and says so.
    assert "not timed yet" in units[0] and "not timed yet" not in units[-2]


def test_time_left_scales_with_samples_and_counts_fits_still_to_train():
    from elpagen.study.plan import Unit
    from elpagen.study.progress import TimeLeft

    eta = TimeLeft()
    eta.add(Unit("class1", "marginal", 1, 0, 0, 1000), fit_seconds=4.0, sample_seconds=2.0)
    rest = [Unit("class1", "marginal", 1, 0, 1, 1000), Unit("class1", "marginal", 1, 0, 2, 3000)]
    fitted = {"marginal/all/nfull": object()}
    assert eta.seconds(rest, fitted) == pytest.approx(2.0 + 6.0)
    # A training-set size not fitted yet costs one more fit of the model.
    later = [Unit("size", "marginal", 1, 1000, 0, 1000)]
    assert eta.seconds(later, fitted) == pytest.approx(2.0 + 4.0)
    assert eta.describe(later, fitted).startswith("; roughly 6 s left (size class 1 not timed")
    assert eta.describe([], fitted) == ""


def test_time_left_tells_the_class5_frontier_from_the_class1_one():
    """A class-5 frontier unit by exact expectation costs seconds at N = 25 M: once one is
    timed, the class-1 frontier's per-sample rate does not scale the others up."""
    from elpagen.study.plan import Unit
    from elpagen.study.progress import TimeLeft

    eta = TimeLeft()
    eta.add(Unit("frontier", "marginal", 1, 0, 0, 10_000), fit_seconds=None, sample_seconds=1.0)
    eta.add(Unit("frontier", "marginal", 5, 0, 0, 25_000_000), fit_seconds=None,
            sample_seconds=2.0)
    rest = [Unit("frontier", "marginal", 5, 0, 1, 25_000_000)]
    assert eta.seconds(rest, {"marginal/all/nfull": object()}) == pytest.approx(2.0)


# --------------------------------------------------------------------------- the report


def test_report_writes_svg_standalone_html_and_csv_tables(tiny_study, capsys):
    d = tiny_study.dir
    code, out, err = run(capsys, "report", str(d))
    assert code == 0, err
    # What it is doing goes to stderr; stdout is the one summary line.
    n = len(report.FIGURES)  # the campaign figures included: the tiny study has campaigns
    assert "reading the store" in err and f"drawing figure 1/{n}" in err
    assert f"drawing figure {n}/{n}" in err and "writing results.json, report.html" in err
    assert len(out.strip().splitlines()) == 1 and "report.html" in out

    for name in report.FIGURES:
        svg = (d / name).with_suffix(".svg")
        assert svg.is_file(), svg
        assert "<svg" in svg.read_text()[:2000]

    page = (d / "report.html").read_text()
    standalone = (d / report_html.STANDALONE).read_text()
    assert "data:image/png;base64," in standalone
    assert standalone.count("data:image/png;base64,") == len(report.FIGURES)
    assert not re.search(r"src='[^']*\.png'", standalone)
    for name in report.FIGURES:
        assert f"src='{name}'" in page  # the loose page keeps its files beside it

    # One seed: no made-up zero spread anywhere in the page.
    assert "± 0.0000" not in page and "± –" in page

    for name in report_html.TABLES:
        rows = list(csv.reader(io.StringIO((d / name).read_text())))
        assert len(rows) >= 2, name
        assert all(len(r) == len(rows[0]) for r in rows), name
        assert name in page  # linked under its table
    head, *rows = list(csv.reader(io.StringIO((d / "table_class1.csv").read_text())))
    col = dict(zip(head, rows[0], strict=True))
    assert {r[0] for r in rows} >= {"marginal", "random", "ideal coverage bound"}
    assert 0.0 <= float(col["precision_mean"]) <= 1.0
    assert col["precision_std"] == ""  # one fit: the spread is unknown, not 0


def test_report_quiet_prints_no_progress(tiny_study, capsys, monkeypatch):
    done = json.loads((tiny_study.dir / "results.json").read_text())["figures"]

    def figures_already_drawn(r, directory, log=None):
        if log:
            log("drawing figure 1/9")
        return done

    monkeypatch.setattr(report_html, "make_figures", figures_already_drawn)
    code, out, err = run(capsys, "report", "-q", str(tiny_study.dir))
    assert code == 0 and err == "", err
    assert "report.html" in out


# --------------------------------------------------------------------------- benchmark


def test_parallel_benchmark_reports_worker_progress(capsys, cache_dir):
    # (--json prints no progress at all: tests/test_output_progress.py)
    code, out, err = run(capsys, "benchmark", *TINY, "--jobs", "2",
                         "--cache-dir", str(cache_dir))
    assert code == 0, err
    assert "vae" in out and "marginal" in out
    assert WORKER_LINE.search(err), err
    assert "running 2 models, 2 at a time" in err


def test_parallel_benchmark_quiet_prints_no_progress(capsys, cache_dir):
    code, out, err = run(capsys, "benchmark", *TINY, "--jobs", "2", "-q",
                         "--cache-dir", str(cache_dir))
    assert code == 0, err
    assert not WORKER_LINE.search(err) and "running" not in err, err
    assert "± –" in out and "± 0.0000" not in out  # one seed


def test_progress_board_lines_and_time_left(monkeypatch):
    lines: list[str] = []
    monkeypatch.setattr(benchmark, "LINE_INTERVAL", 0.0)
    board = benchmark.ProgressBoard(queue.Queue(), lines.append, tty=False)
    board.update("gan", "fitting", 0, 0)
    assert lines == []  # no line for the start of a fit: its first step follows at once
    board.update("gan", "training", 0, 100)
    board.models["gan"].t_phase -= 20  # 20 s spent on a quarter of the steps
    board.update("gan", "training", 25, 100)
    board.update("gan", "sampling", 0, 3)
    board.finish("gan")
    board.update("gan", "sampling", 1, 3)  # late: after the model was done
    assert lines[0] == "  gan: training step 0/100 (0%)"
    assert re.fullmatch(r"  gan: training step 25/100 \(25%\), 20 s so far, "
                        r"about 60 s left", lines[1]), lines[1]
    assert lines[2] == "  gan: sampling and scoring seed 1/3"
    assert len(lines) == 3


def test_progress_board_bars_on_a_terminal(capsys):
    with benchmark.ProgressBoard(queue.Queue(), None, slots=2, tty=True) as board:
        board.update("vae", "training", 5, 20)
        board.update("gan", "training", 1, 20)
        board.update("vae", "sampling", 0, 1)
        board.log("vae: done in 1.0 s")
        board.finish("vae")
        board.finish("gan")
    err = capsys.readouterr().err
    assert "vae: done in 1.0 s" in err and "gan training" in err


def test_training_loops_report_through_the_hook():
    from elpagen.models.training import progress_steps, reporting_to

    seen = []
    with reporting_to(lambda desc, done, total: seen.append((desc, done, total))):
        assert list(progress_steps(5, "vae x1", enabled=False)) == [0, 1, 2, 3, 4]
    assert seen[0] == ("vae x1", 0, 5) and seen[-1] == ("vae x1", 5, 5)
    assert list(progress_steps(3, "vae x1", enabled=False)) == [0, 1, 2]  # hook removed
