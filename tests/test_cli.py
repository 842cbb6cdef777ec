"""CLI smoke tests and bad-input behaviour (one line on stderr, exit code 2)."""

import json
import os
import stat

import numpy as np
import pytest
from cli_helpers import one_line_error, run

from elpagen import cli, metrics
from elpagen.spaces import ELPASOLITE


def test_data_json(capsys):
    code, out, _ = run(capsys, "data", "--json")
    d = json.loads(out)
    assert code == 0
    assert (d["raw"], d["augmented"], d["twin_pairs"]) == (10_590, 21_112, 34)
    assert d["class_counts"]["1"] == 86 and d["class_counts"]["5"] == 9_650


def test_oracle_json(capsys, reference):
    code, out, _ = run(capsys, "reference", "--json")
    d = json.loads(out)
    assert code == 0 and d["from_cache"] is True
    assert {"holdout_mae", "sigma", "lambda", "class_sizes", "seconds"} <= d.keys()
    sizes = [d["class_sizes"][str(k)] for k in range(1, 11)]
    assert sum(sizes) == 1_974_024
    assert sizes[0] < 0.01 * 1_974_024  # class 1: a fraction of a percent
    assert max(sizes) == sizes[4]  # class 5: the largest


def test_sample_then_evaluate(capsys, tmp_path, reference, train):
    out = tmp_path / "s.csv"
    code, _, err = run(capsys, "sample", "marginal", "-c", "1", "-n", "3000", "--seed", "2",
                       "-o", str(out))
    assert code == 0 and "3,000 valid" in err
    lines = out.read_text().splitlines()
    assert lines[0] == "A,B,C,D" and len(lines) == 3001
    # invalid rows are counted, not fatal
    with open(out, "a") as f:
        f.write("Fe,Na,K,F\nLi,Li,K,F\n")
    code, js, _ = run(capsys, "evaluate", str(out), "-c", "1", "--json")
    m = json.loads(js)
    assert code == 0 and m["n_samples"] == 3002 and m["n_valid"] == 3000
    keys = {"precision", "precision_neighbor", "coverage", "coverage_neighbor", "js_distance",
            "n_samples", "n_valid", "n_unique", "n_novel", "n_rediscovered"}
    assert keys <= m.keys()
    # the CLI's numbers are the library's numbers
    from elpagen import io

    codes, _ = io.read_samples(out, space=ELPASOLITE)
    assert m["precision"] == pytest.approx(metrics.precision(codes, 1, reference.classes))
    # and the marginal sampler beats random screening on class 1
    rnd = tmp_path / "r.csv"
    run(capsys, "sample", "random", "-c", "1", "-n", "3000", "-o", str(rnd))
    _, js_r, _ = run(capsys, "evaluate", str(rnd), "-c", "1", "--json")
    assert m["precision"] > 5 * json.loads(js_r)["precision"]


def test_train_sample_benchmark(capsys, tmp_path, reference):
    d = tmp_path / "vae"
    code, _, err = run(capsys, "train", "vae", "--seeds", "2", "--set", "steps=40",
                       "--set", "hidden=32,32", "--device", "cpu", "-o", str(d))
    assert code == 0, err
    manifest = json.loads((d / "model.json").read_text())
    assert manifest["seeds"] == [0, 1] and manifest["config"]["steps"] == 40
    out = tmp_path / "v.csv"
    code, _, err = run(capsys, "sample", str(d), "-c", "2", "-n", "500", "--member", "1",
                       "-o", str(out))
    assert code == 0 and "invalid" in err
    # nothing is overwritten without --overwrite
    before = out.read_text()
    one_line_error(capsys, "sample", str(d), "-c", "2", "-n", "10", "-o", str(out),
                   match="exists")
    assert out.read_text() == before
    one_line_error(capsys, "train", "vae", "--set", "steps=5", "-o", str(d), match="not empty")

    code, js, err = run(capsys, "benchmark", "--models", "vae,random", "-c", "1", "-n", "500",
                        "--seeds", "2", "--set", "steps=30", "--set", "hidden=16",
                        "--device", "cpu", "--json", "-q")
    assert code == 0, err
    r = json.loads(js)
    assert (r["target_class"], r["samples"], r["seeds"], r["protocol"]) == (1, 500, 2, "fast")
    for name in ("vae", "random"):
        for k in ("precision", "precision_neighbor", "coverage", "coverage_neighbor",
                  "js_distance"):
            assert set(r["models"][name][k]) == {"mean", "std"}
        assert r["models"][name]["seconds"] >= 0


def test_bad_input(capsys, tmp_path, monkeypatch, reference):
    one_line_error(capsys, "data", "--data", str(tmp_path / "missing.csv"), match="not found")
    monkeypatch.delenv("ELPAGEN_DATA")
    one_line_error(capsys, "data", match="ELPAGEN_DATA")
    bad = tmp_path / "bad.csv"
    bad.write_text("A,B,C,D,formation_energy_ev_per_atom\nLi,Na,K,Xx,0.1\n")
    one_line_error(capsys, "data", "--data", str(bad), match="line 2: unknown element")


def test_bad_samples_and_classes(capsys, tmp_path, data_path):
    monkey = ["--data", str(data_path)]
    empty = tmp_path / "e.csv"
    empty.write_text("")
    one_line_error(capsys, "evaluate", str(empty), "-c", "1", *monkey, match="empty")
    nohead = tmp_path / "h.csv"
    nohead.write_text("Li,Na,K,F\n")
    one_line_error(capsys, "evaluate", str(nohead), "-c", "1", *monkey, match="header")
    one_line_error(capsys, "sample", "random", "-c", "11", "-n", "5", "-o",
                   str(tmp_path / "x.csv"), *monkey, match="1 to 10")
    one_line_error(capsys, "sample", "random", "-c", "1", "-n", "0", "-o",
                   str(tmp_path / "x.csv"), *monkey, match="positive")
    one_line_error(capsys, "sample", "random", "-c", "1", "-n", "5", "-o",
                   str(tmp_path / "nodir" / "x.csv"), *monkey, match="does not exist")
    one_line_error(capsys, "sample", "random", "-c", "1", "-n", "5", "-o", "/dev/null",
                   "--overwrite", *monkey, match="not a regular file")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if not os.access(ro, os.W_OK):  # root can write anywhere
        one_line_error(capsys, "sample", "random", "-c", "1", "-n", "5", "-o",
                       str(ro / "x.csv"), *monkey, match="not writable")
    one_line_error(capsys, "benchmark", "--models", "vae,nope", *monkey, match="unknown model")
    one_line_error(capsys, "sample", str(tmp_path), "-c", "1", "-n", "5", "-o",
                   str(tmp_path / "y.csv"), *monkey, match="not a model directory")
    one_line_error(capsys, "train", "rl", "-o", str(tmp_path / "rl"), *monkey,
                   match="--target-class")
    one_line_error(capsys, "train", "vae", "--set", "nope=1", "-o", str(tmp_path / "v"),
                   *monkey, match="unknown setting")


def test_corrupted_model_dir(capsys, tmp_path, train):
    from elpagen.models.vae import ConditionalVAE

    d = ConditionalVAE(seed=0, hidden=(8,), steps=2, device="cpu").fit(train).save(
        tmp_path / "m")
    (d / "weights.pt").write_bytes(b"\x00" * 100)
    one_line_error(capsys, "sample", str(d), "-c", "1", "-n", "5", "-o",
                   str(tmp_path / "o.csv"), match="corrupted")
    assert not (tmp_path / "o.csv").exists()


def test_help_everywhere(capsys):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:
        with pytest.raises(SystemExit) as e:
            cli.main([name, "--help"])
        assert e.value.code == 0
        assert "usage" in capsys.readouterr().out


def test_codes_are_int32():
    assert ELPASOLITE.all_codes().dtype == np.int32


def test_benchmark_jobs_do_not_change_numbers(capsys, reference):
    """Models fitted in parallel processes give exactly the sequential numbers."""
    out = {}
    for jobs in ("1", "2"):
        code, js, err = run(capsys, "benchmark", "--models", "vae,marginal", "-n", "300",
                            "--seeds", "2", "--set", "steps=20", "--set", "hidden=16",
                            "--device", "cpu", "--json", "-o", "", "--jobs", jobs)
        assert code == 0, err
        out[jobs] = json.loads(js)["models"]
    assert list(out["2"]) == ["vae", "marginal"]
    for name in ("vae", "marginal"):
        for k in ("precision", "coverage", "js_distance"):
            assert out["1"][name][k] == out["2"][name][k]
    one_line_error(capsys, "benchmark", "--jobs", "0", match="--jobs")


@pytest.mark.parametrize("value", ["two", "0", "-1"])
def test_a_bad_elpagen_jobs_is_one_line(capsys, monkeypatch, value):
    """$ELPAGEN_JOBS stands in for --jobs (the test suite sets it to 1); a bad one is named
    before anything is loaded, and --jobs wins over it."""
    from elpagen.cli.common import resolve_jobs

    monkeypatch.setenv("ELPAGEN_JOBS", value)
    one_line_error(capsys, "benchmark", "--models", "marginal", "-n", "10",
                   match=("ELPAGEN_JOBS", repr(value)))
    assert resolve_jobs(3, 8) == 3
    monkeypatch.setenv("ELPAGEN_JOBS", " 2 ")
    assert resolve_jobs(None, 8) == 2
    monkeypatch.delenv("ELPAGEN_JOBS")
    assert resolve_jobs(None, 1) == 1
