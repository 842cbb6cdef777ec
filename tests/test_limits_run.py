"""Bad input, round three (issue 17): counts and sizes checked before work, a failed save
that keeps the training, settings and grid values that would be dropped in silence."""

from __future__ import annotations

import errno

import pytest
from cli_helpers import one_line_error, run

from elpagen import memory
from elpagen.models.base import TorchEnsembleGenerator


@pytest.mark.parametrize("argv, match", [
    (("frontier", "--models", "marginal", "-n", "2000", "--seeds", "1", "--ensemble",
      "1000000000"), "maximum of 1,000 fits per seed"),
    (("frontier", "--models", "marginal", "--seeds", "1000000000"), "maximum of 1,000"),
    (("benchmark", "--models", "marginal", "--ensemble", "1000000000"), "--mixture"),
    (("benchmark", "--models", "marginal", "--seeds", "200", "--mixture", "100"),
     "20,000 fits per model"),
    (("benchmark", "--models", "marginal", "-n", "100000000000"), "of memory"),
    (("train", "vae", "--set", "hidden=100000000,100000000", "-o", "OUT"), "16,384"),
    (("train", "vae", "--set", "batch_size=10000000000", "-o", "OUT"), "1,048,576"),
    (("train", "vae", "--seeds", "5000", "-o", "OUT"), "maximum of 1,000"),
    (("study", "--quick", "--seeds", "1000000", "-o", "OUT"), "maximum of 1,000"),
])
def test_counts_and_sizes_are_bounded_before_work(capsys, tmp_path, monkeypatch, argv, match):
    monkeypatch.chdir(tmp_path)
    one_line_error(capsys, *argv, match=match)
    assert not (tmp_path / "OUT").exists()


def test_training_memory_is_checked_before_the_networks_exist(capsys, tmp_path, monkeypatch):
    # Widths within the maxima whose training still cannot fit: refused before any
    # allocation (the estimate counts the parameters on torch's meta device).
    monkeypatch.setattr(memory, "available_memory", lambda: 200 * 2**20)
    one_line_error(capsys, "train", "vae", "--set", "hidden=8192,8192", "-o",
                   str(tmp_path / "m"), match=("needs about", "available"))


def test_a_failed_save_keeps_the_training(capsys, tmp_path, monkeypatch):
    real_save = TorchEnsembleGenerator.save
    out = tmp_path / "model"

    def save(self, directory, *, overwrite=False):
        if str(directory) == str(out):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, directory, overwrite=overwrite)

    monkeypatch.setattr(TorchEnsembleGenerator, "save", save)
    line = one_line_error(capsys, "train", "vae", "--set", "steps=5", "--set", "hidden=8",
                          "--set", "batch_size=16", "-q", "-o", str(out),
                          match=(str(out), "No space left on device", "kept in"))
    rescue = line.split("kept in ")[1].split(":")[0]
    from elpagen.catalogue import load_model

    assert load_model(rescue).name == "vae"


def test_a_setting_for_no_model_of_the_run_is_said(capsys):
    code, out, err = run(capsys, "benchmark", "--models", "marginal", "--set", "vae.steps=5",
                         "-n", "200", "--seeds", "1", "-q")
    assert code == 0
    assert "warning: 1 setting(s) reach no model of this run and are ignored (vae.steps)" in err
    code, out, err = run(capsys, "benchmark", "--models", "marginal", "--set", "steps=5",
                         "-n", "200", "--seeds", "1", "-q")
    assert code == 0 and "ignored (steps)" in err


def test_an_empty_grid_value_is_refused(capsys):
    one_line_error(capsys, "frontier", "--models", "marginal", "--grid", "marginal=1,,2",
                   match="empty value")
