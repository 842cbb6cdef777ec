"""User errors vs bugs, thread defaults, and the bad-input holes of data files and outputs."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import numpy as np
import pytest
import torch
from cli_helpers import one_line_error, run

from elpagen import cli, data, errors, io, threads

HEADER = "A,B,C,D,formation_energy_ev_per_atom\n"




def test_every_domain_error_is_a_user_error():
    from elpagen import catalogue, generator, settings, space, study
    from elpagen.models import persistence
    from elpagen.study import store

    for cls in (data.DataError, io.OutputError, io.SamplesFileError, space.UnknownElementError,
                catalogue.UnknownModelError, persistence.ModelLoadError, settings.ConfigError,
                generator.SamplingError, store.StoreError, study.StudyError, cli.CLIError):
        assert issubclass(cls, errors.UserError), cls
    with pytest.raises(ValueError):  # still a ValueError for library callers
        data.check_class(11)


def test_a_bug_keeps_its_traceback(capsys, monkeypatch):
    """A plain ValueError (e.g. from numpy) is not bad input: traceback, hint, exit 3."""

    def broken(_args):
        raise ValueError("operands could not be broadcast together")

    from elpagen.cli import data as data_cmds

    monkeypatch.setattr(data_cmds, "cmd_data", broken)
    code, _, err = run(capsys, "data")
    assert code == cli.EXIT_BUG == 3
    assert "Traceback" in err and "operands could not be broadcast" in err
    assert "this is a bug" in err.splitlines()[-1]


def test_faulthandler_reports_a_native_crash(tmp_path):
    """A segfault inside the CLI prints where it happened instead of dying silently."""
    code = (
        "import ctypes, sys\n"
        "from elpagen import cli\n"
        "from elpagen.cli import data\n"
        "data.cmd_data = lambda args: ctypes.string_at(0)\n"
        "sys.exit(cli.main(['data']))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)
    assert r.returncode != 0
    assert "Fatal Python error" in r.stderr and "cli/main.py" in r.stderr


def test_threads_default_and_override(monkeypatch):
    monkeypatch.delenv(threads.ENV_VAR, raising=False)
    old = torch.get_num_threads()
    try:
        assert threads.configure() == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv(threads.ENV_VAR, "2")
        assert threads.resolve() == 2
        assert threads.resolve(0) == threads.available_cores()
        for bad in ("two", "-1"):
            with pytest.raises(errors.InputError, match="threads"):
                threads.resolve(bad)
        from threadpoolctl import threadpool_info

        assert all(p["num_threads"] == 1 for p in threadpool_info()
                   if p["internal_api"] == "openblas")
    finally:
        torch.set_num_threads(old)


def test_bad_threads_option(capsys):
    one_line_error(capsys, "data", "--threads", "-2", match="--threads")


# --------------------------------------------------------------------------- data files


def test_bom_is_accepted(tmp_path, data_path):
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + data_path.read_bytes())
    dft = data.load_dft(bom, verify=False)
    assert len(dft) == 10_590
    samples = tmp_path / "s.csv"
    samples.write_bytes(b"\xef\xbb\xbfA,B,C,D\nK,Na,Al,F\nLi,Li,Na,F\n")
    codes, n_rows = io.read_samples(samples, space=dft.space)
    assert (len(codes), n_rows) == (1, 2)


def _rows(n: int, energy=None) -> str:
    syms = ["Li", "Na", "K", "Rb", "Cs", "Be", "Mg", "Ca", "Sr", "Ba", "Al", "Ga"]
    lines = [f"{syms[i]},{syms[i + 1]},{syms[(i + 2) % 12]},F,"
             f"{energy if energy is not None else -1.0 + 0.1 * i}" for i in range(n)]
    return HEADER + "\n".join(lines) + "\n"


def test_tiny_files_say_what_is_needed(tmp_path, capsys):
    one = tmp_path / "one.csv"
    one.write_text(_rows(1))
    msg = one_line_error(capsys, "data", "--data", str(one), "--no-verify", match="at least")
    assert f"{data.MIN_ROWS} compositions" in msg and "two different energies" in msg
    flat = tmp_path / "flat.csv"
    flat.write_text(_rows(10, energy=-1.5))
    one_line_error(capsys, "data", "--data", str(flat), "--no-verify",
                   match="two different energies")
    ok = tmp_path / "ok.csv"
    ok.write_text(_rows(10))
    code, out, _ = run(capsys, "data", "--data", str(ok), "--no-verify", "--json")
    assert code == 0 and '"raw": 10' in out


def test_duplicate_rows_warn_and_keep_the_first(tmp_path, capsys):
    p = tmp_path / "dup.csv"
    p.write_text(_rows(10) + "Li,Na,K,F,2.5\n")  # line 12 repeats line 2 with another energy
    with pytest.warns(data.DataWarning, match="line 12 repeats LiNaK2F6 of line 2"):
        dft = data.load_dft(p, verify=False)
    assert len(dft) == 10 and dft.energies[0] == pytest.approx(-1.0)
    code, _, err = run(capsys, "data", "--data", str(p), "--no-verify")
    assert code == 0
    warn = [ln for ln in err.splitlines() if ln.startswith("warning: ")]
    assert len(warn) == 1 and "keeping the first" in warn[0] and "-1 eV/atom" in warn[0]


# --------------------------------------------------------------------------- outputs


def test_train_checks_its_output_before_training(capsys, tmp_path, monkeypatch):
    from elpagen.models import vae

    def no_training(*a, **k):
        raise AssertionError("trained before checking the output directory")

    monkeypatch.setattr(vae.ConditionalVAE, "fit", no_training)
    f = tmp_path / "file"
    f.write_text("x")
    one_line_error(capsys, "train", "vae", "-o", str(f), match="not a directory")
    one_line_error(capsys, "train", "vae", "-o", str(f / "sub"), match="not a directory")
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    one_line_error(capsys, "train", "vae", "-o", str(full), match="not empty")
    assert (full / "keep.txt").read_text() == "mine"
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if not os.access(ro, os.W_OK):  # root can write anywhere
            one_line_error(capsys, "train", "vae", "-o", str(ro / "m"), match="not writable")
    finally:
        ro.chmod(stat.S_IRWXU)
    assert np.all([not (tmp_path / n).exists() for n in ("m",)])
