"""Plug-ins that misbehave (issue 27, bad input round four): they print, call ``sys.exit``,
die under the out-of-memory killer, have no name, name a knob they lack, run out of memory,
or are campaign strategies that raise. Each is one line naming it (exit 2), never a
traceback, an exit 0 or a corrupted ``--json``; the other models' work is kept.

Every plug-in lives in a module written to a temporary directory on ``sys.path``.
"""

from __future__ import annotations

import json
import sys
import textwrap
import uuid

import pytest
from cli_helpers import one_line_error, run

from elpagen import catalogue, cli

PLUGIN = '''
import os
import signal
import sys

import numpy as np
from elpagen import Generator
from elpagen.campaign.base import Strategy


class Fine(Generator):
    name = "fine"

    def __init__(self, seed=0):
        self.seed = seed

    def fit(self, train, target_class=None):
        self.space_ = train.space
        return self

    def propose(self, n, target_class, rng):
        s = self.space_
        el = np.column_stack([rng.integers(0, k, size=n) for k in s.sizes])
        return np.where(s.is_valid(el), s.encode(el), -1)


class Prints(Fine):
    name = "prints"

    def fit(self, train, target_class=None):
        print("hello from fit")
        return super().fit(train, target_class)

    def propose(self, n, target_class, rng):
        print("hello from propose")
        return super().propose(n, target_class, rng)


class Exits(Fine):
    name = "exits"

    def fit(self, train, target_class=None):
        sys.exit(0)


class Killed(Fine):
    name = "killed"

    def fit(self, train, target_class=None):
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer does


class NoName(Fine):
    name = Generator.name  # as a class without a name of its own ("generator")


class BadName(Fine):
    name = "not a name!"


class BadKnob(Fine):
    name = "badknob"
    knob = "nosuch"
    knob_default = 1.0
    knob_grid = (0.5, 1.0)


class OutOfMemory(Fine):
    name = "oom"

    def fit(self, train, target_class=None):
        raise MemoryError()


class FitRaises(Fine):
    name = "fitraises"

    def fit(self, train, target_class=None):
        raise ValueError("fit broke")


class Stalls(Fine):
    name = "stalls"

    def propose(self, n, target_class, rng):
        import time
        time.sleep(0.2)
        return np.full(n, -1)  # never a valid composition, slowly


class Hangs(Fine):
    name = "hangs"

    def propose(self, n, target_class, rng):
        import time
        while True:  # a propose that never returns
            time.sleep(0.05)


class SRaises(Strategy):
    name = "sraises"

    def propose(self, labelled_codes, labelled_energies, batch, rng, pool):
        raise ValueError("strategy broke")


class SExits(Strategy):
    name = "sexits"

    def propose(self, labelled_codes, labelled_energies, batch, rng, pool):
        sys.exit(3)


class SNoPropose(Strategy):
    name = "snopropose"
'''

SMALL = ("-n", "100", "--seeds", "1", "-q")


def _forget(module: str) -> None:
    for s in catalogue.specs():
        target = s.target if isinstance(s.target, str) else getattr(s.target, "__module__", "")
        if target.partition(":")[0] == module:
            catalogue.unregister(s.name)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The name of a fresh module on sys.path holding the plug-ins of PLUGIN."""
    name = f"elpagen_bad_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    _forget(name)
    sys.modules.pop(name, None)
    from elpagen.campaign import catalogue as strategies

    strategies.reset()


# --------------------------------------------------------------------------- 7: stdout


def test_what_a_plugin_prints_goes_to_stderr_not_into_json(plugin, capsys):
    code, out, err = run(capsys, "benchmark", "--models", f"{plugin}:Prints", *SMALL, "--json")
    assert code == 0, err
    assert list(json.loads(out)["models"]) == ["prints"]  # stdout: the JSON alone
    assert "hello from fit" in err and "hello from propose" in err


@pytest.fixture
def installed(tmp_path, monkeypatch, plugin):
    """A fake installed package whose entry points name a module that prints when imported,
    one that calls sys.exit when imported, and a fine one."""
    site = tmp_path / "site"
    dist = site / "elpagen_bad_dist-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: elpagen-bad-dist\n"
                                   "Version: 1.0\n")
    tag = uuid.uuid4().hex[:8]
    (dist / "entry_points.txt").write_text(
        "[elpagen.generators]\n"
        f"chatty = elpagen_chatty_{tag}:Gen\n"
        f"quitter = elpagen_quitter_{tag}:Gen\n")
    (site / f"elpagen_chatty_{tag}.py").write_text(textwrap.dedent(f"""
        print("printed at import")
        from {plugin} import Fine as Gen
    """))
    (site / f"elpagen_quitter_{tag}.py").write_text("import sys\nsys.exit(0)\n")
    monkeypatch.syspath_prepend(str(site))
    catalogue.reset()  # installed plug-ins are read again on the next lookup
    yield
    monkeypatch.undo()
    catalogue.reset()
    for m in [m for m in sys.modules if m.endswith(tag)]:
        del sys.modules[m]


def test_entry_point_modules_that_print_or_exit(installed, capsys):
    # --help reads no plug-in: no warning, no import, exit 0 by argparse itself
    with pytest.raises(SystemExit) as e:
        cli.main(["benchmark", "--help"])
    out, err = capsys.readouterr()
    assert e.value.code == 0 and "printed at import" not in out + err
    assert "warning" not in err and "usage:" in out
    # a command that needs them: the module's print goes to stderr, the one that exits is
    # skipped with one warning line, the JSON is intact
    code, out, err = run(capsys, "benchmark", "--models", "chatty", *SMALL, "--json")
    assert code == 0, err
    assert list(json.loads(out)["models"]) == ["chatty"]
    assert "printed at import" in err
    warnings = [ln for ln in err.splitlines() if "quitter" in ln]
    assert len(warnings) == 1 and "SystemExit: sys.exit(0)" in warnings[0], err


# --------------------------------------------------------------------------- 8, 9: exits


def test_sys_exit_in_fit_is_one_line_exit_2(plugin, capsys):
    one_line_error(capsys, "benchmark", "--models", f"{plugin}:Exits", *SMALL,
                   match="generator 'exits' called sys.exit(0) in fit")


def test_a_module_that_exits_at_import_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "elpagen_exits_at_import.py").write_text("import sys\nsys.exit(0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "elpagen_exits_at_import", raising=False)
    one_line_error(capsys, "benchmark", "--models", "elpagen_exits_at_import:X", *SMALL,
                   match="cannot import 'elpagen_exits_at_import' (SystemExit: sys.exit(0))")


def test_parallel_a_dead_or_exiting_worker_is_named_and_the_others_finish(plugin, capsys):
    """--jobs 2: a worker killed by SIGKILL (as by the OOM killer) and a fit that calls
    sys.exit are each named, in one line (exit 2), no BrokenProcessPool; the fine model ran
    to the end and its table is printed."""
    models = ",".join(f"{plugin}:{c}" for c in ("Killed", "Exits", "Fine"))
    code, out, err = run(capsys, "benchmark", "--models", models, *SMALL, "--jobs", "2")
    assert code == cli.EXIT_USAGE, err
    [line] = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err and "BrokenProcessPool" not in err
    # in the order asked for, whichever failed first
    assert line.startswith("error: generator 'killed': its worker process died (killed by "
                           "SIGKILL"), line
    assert "; generator 'exits' called sys.exit(0) in fit" in line
    assert line.endswith("the other models finished (fine): rerun without 'killed', 'exits'")
    rows = [ln.split()[0] for ln in out.splitlines()[3:-1]]
    assert rows == ["fine"], out  # the finished model's numbers are not lost


# --------------------------------------------------------------------------- 10: names


@pytest.mark.parametrize("cls", ["NoName", "BadName"])
def test_a_plugin_without_a_name_is_refused_before_any_work(plugin, tmp_path, capsys, cls):
    out = tmp_path / "out"
    one_line_error(capsys, "benchmark", "--models", f"{plugin}:{cls}", *SMALL, "-o", str(out),
                   match=(f"model '{plugin}:{cls}' has no name of its own",
                          "name = 'a-unique-name'"))
    assert not out.exists()  # checked before anything was fitted or written


def test_a_plugin_without_a_name_still_runs_without_outputs(plugin, capsys):
    code, out, err = run(capsys, "benchmark", "--models", f"{plugin}:NoName", *SMALL)
    assert code == 0, err
    assert f"{plugin}:NoName" in out


# --------------------------------------------------------------------------- 11


def test_a_knob_naming_no_attribute_is_one_line(plugin, capsys):
    one_line_error(capsys, "frontier", "--models", f"{plugin}:BadKnob", *SMALL,
                   match="generator 'badknob'")


def test_memory_error_in_fit_is_one_line(plugin, capsys):
    one_line_error(capsys, "benchmark", "--models", f"{plugin}:OutOfMemory", *SMALL,
                   match="generator 'oom' ran out of memory in fit (MemoryError)")


# --------------------------------------------------------------------------- 20: strategies

CAMPAIGN = ("--budget", "200", "--batch", "100", "--seeds", "1", "-q")


@pytest.mark.parametrize(("cls", "match"), [
    ("SRaises", "strategy 'sraises' raised ValueError in propose: strategy broke"),
    ("SExits", "strategy 'sexits' called sys.exit(3) in propose"),
    ("SNoPropose", "strategy 'snopropose' does not implement propose"),
])
def test_a_strategy_that_breaks_is_one_line_naming_it(plugin, capsys, cls, match):
    line = one_line_error(capsys, "campaign", "--strategies", f"{plugin}:{cls}", *CAMPAIGN,
                          match=match)
    assert "this is a bug" not in line


def test_static_of_a_plugin_whose_fit_raises_is_one_line(plugin, capsys):
    one_line_error(capsys, "campaign", "--strategies", f"static:{plugin}:FitRaises",
                   *CAMPAIGN, match="generator 'fitraises' raised ValueError in fit: fit broke")


# --------------------------------------------------------------------------- --timeout


def test_a_propose_that_never_returns_stops_at_the_timeout(plugin, capsys):
    import time

    t0 = time.monotonic()
    one_line_error(capsys, "benchmark", "--models", f"{plugin}:Hangs", *SMALL,
                   "--timeout", "1", match="hangs: propose did not return within 1 s (0 of "
                                           "100 valid so far): stopped by --timeout")
    assert time.monotonic() - t0 < 30


def test_rounds_without_a_valid_composition_stop_at_the_timeout(plugin, train):
    """Off the main thread no alarm can be set: the check after each round is the limit."""
    from concurrent.futures import ThreadPoolExecutor

    from elpagen.generator import SamplingError
    from elpagen.harness import trial

    [g] = trial.fit(f"{plugin}:Stalls", train, [0], 1)
    with ThreadPoolExecutor(1) as pool, pytest.raises(
            SamplingError, match=r"stalls: no new valid composition in 0.5 s \(0 of 100 valid"):
        pool.submit(g.sample, 100, 1, timeout=0.5).result(timeout=60)


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf"])
def test_a_bad_timeout_is_refused(plugin, capsys, bad):
    one_line_error(capsys, "benchmark", "--models", f"{plugin}:Fine", *SMALL,
                   f"--timeout={bad}", match="--timeout must be a number of seconds > 0")


def test_the_timeout_leaves_a_fine_run_alone(plugin, train):
    """The limit changes nothing while compositions keep coming (the same draws)."""
    from elpagen.harness import trial

    [g] = trial.fit(f"{plugin}:Fine", train, [0], 1)
    assert g.sample(300, 1, seed=4, timeout=60).codes.tolist() == \
        g.sample(300, 1, seed=4).codes.tolist()
