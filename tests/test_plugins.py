"""Generators written outside the repository: ``--models module.path:ClassName``, the
``elpagen.generators`` entry points, ``elpagen.benchmark`` from Python, and one-line errors
naming a generator that breaks the interface (docs/design.md, "Plug-in generators").

Every plug-in here lives in a module written to a temporary directory put on ``sys.path``
(not in ``src/``), with a module name of its own per test.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import one_line_error

import elpagen
from elpagen import catalogue, cli
from elpagen.errors import InputError
from elpagen.generator import GeneratorError, check_proposals
from elpagen.harness import trial
from elpagen.spaces import ELPASOLITE

PLUGIN = '''
"""A toy plug-in: class training compositions mixed with uniform random draws."""
import numpy as np
from elpagen import Generator

__version__ = "0.3"


class MyGen(Generator):
    """Draws from the target class's training compositions, else uniformly.

    More text.
    """

    name = "plugtoy"
    knob = "share"
    knob_default = 0.5
    knob_grid = (0.25, 0.5, 1.0)
    share = 0.5

    def __init__(self, seed=0):
        self.seed = seed

    def fit(self, train, target_class=None):
        self.pools_ = {c: train.codes_of_class(c) for c in range(1, 11)}
        self.space_ = train.space
        return self

    def propose(self, n, target_class, rng):
        pool, space = self.pools_[target_class], self.space_
        el = np.column_stack([rng.integers(0, k, size=n) for k in space.sizes])
        uniform = np.where(space.is_valid(el), space.encode(el), -1)
        return np.where(rng.random(n) < self.share, pool[rng.integers(0, len(pool), n)],
                        uniform)


class Taken(MyGen):
    name = "vae"  # a built-in's name: registered under its import path


class FitRaises(MyGen):
    name = "fitraises"

    def fit(self, train, target_class=None):
        raise ValueError("no pool for this class\\nsecond line")


class ProposeRaises(MyGen):
    name = "proposeraises"

    def propose(self, n, target_class, rng):
        raise RuntimeError("propose broke")


class WrongShape(MyGen):
    name = "wrongshape"

    def propose(self, n, target_class, rng):
        return np.zeros((n, 4), dtype=np.int64)


class OutOfRange(MyGen):
    name = "outofrange"

    def propose(self, n, target_class, rng):
        return np.full(n, 99_999_999)


class Repeated(MyGen):
    name = "repeated"

    def propose(self, n, target_class, rng):
        return np.zeros(n, dtype=np.int64)  # HHH2H6: not a composition


class FloatCodes(MyGen):
    name = "floatcodes"

    def propose(self, n, target_class, rng):
        return np.zeros(n)


class NoSeed(MyGen):
    name = "noseed"

    def __init__(self):
        pass


def not_a_class():
    pass
'''


def _forget(module: str) -> None:
    """Unregister every record of ``module``'s classes (the CLI registers them on the fly)."""
    for s in catalogue.specs():
        target = s.target if isinstance(s.target, str) else getattr(s.target, "__module__", "")
        if target.partition(":")[0] == module:
            catalogue.unregister(s.name)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The name of a fresh module on sys.path holding the generators of PLUGIN."""
    name = f"elpagen_plugin_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    _forget(name)
    sys.modules.pop(name, None)


# --------------------------------------------------------------------------- the catalogue


def test_a_plugin_path_is_registered_under_its_name(plugin):
    spec = catalogue.get(f"{plugin}:MyGen")
    assert spec.name == "plugtoy" and catalogue.get("plugtoy") is spec
    assert spec.version == "0.3"
    assert spec.description.startswith("Draws from the target class's training compositions")
    assert not spec.builtin and not catalogue.is_builtin("plugtoy")
    assert catalogue.is_builtin("vae") and catalogue.get("vae").builtin
    assert "plugtoy" not in catalogue.names(study=True)  # runs only where named
    # the same class again: the same record; a taken name: the import path is the name
    assert catalogue.check_models([f"{plugin}:MyGen", "marginal"]) == ["plugtoy", "marginal"]
    assert catalogue.check_models([f" {plugin}:Taken "]) == [f"{plugin}:Taken"]
    assert catalogue.label(f"{plugin}:Taken") == f"{plugin}:Taken"
    with pytest.raises(elpagen.UserError, match="named twice"):
        catalogue.check_models([f"{plugin}:MyGen", "plugtoy"])
    # a class from Python, its spec travels to worker processes
    assert catalogue.resolve(sys.modules[plugin].MyGen) == "plugtoy"
    assert catalogue.plugins(["vae", "plugtoy"]) == (spec,)


@pytest.mark.parametrize(("path", "match"), [
    ("nosuchmodule_xyz:Gen", "cannot import 'nosuchmodule_xyz' (ModuleNotFoundError: No module "
                             "named 'nosuchmodule_xyz'); put its directory on PYTHONPATH"),
    ("{m}:Nope", "module '{m}' has no 'Nope' (its generator classes: FitRaises, "),
    ("{m}:not_a_class", "is a function, not a generator: give a subclass of elpagen.Generator"),
    ("{m}:np", "is a module, not a generator"),
    ("elpagen.generator:Generator", "Generator does not implement fit and propose"),
    ("{m}:", "a plug-in is named module.path:ClassName"),
])
def test_a_plugin_that_does_not_load_is_one_line(plugin, capsys, path, match):
    path, match = path.format(m=plugin), match.format(m=plugin)
    one_line_error(capsys, "benchmark", "--models", path, "-q", match=match)


def test_a_broken_module_says_its_own_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "elpagen_broken_mod.py").write_text(
        "import numpy\nraise OSError('no GPU here\\nmore')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    one_line_error(capsys, "frontier", "--models", "elpagen_broken_mod:X", "-q",
                   match="cannot import 'elpagen_broken_mod' (OSError: no GPU here)")


# --------------------------------------------------------------------------- every command


def test_a_plugin_runs_in_benchmark_workers_and_frontier(plugin, tmp_path, capsys):
    out = tmp_path / "bench"
    # two worker processes: the class is imported there by its module (sys.path travels)
    assert cli.main(["benchmark", "--models", f"{plugin}:MyGen,random", "-n", "500",
                     "--seeds", "2", "--jobs", "2", "-q", "-o", str(out)]) == 0
    assert "plugtoy" in capsys.readouterr().out
    r = json.loads((out / "benchmark_class1.json").read_text())
    assert list(r["models"]) == ["plugtoy", "random"]
    assert r["models"]["plugtoy"]["precision"]["mean"] > r["models"]["random"]["precision"]["mean"]

    assert cli.main(["frontier", "--models", f"{plugin}:MyGen", "-n", "500", "--seeds", "1",
                     "-q", "--json"]) == 0
    fr = json.loads(capsys.readouterr().out)
    assert [p["knob"] for p in fr["models"]["plugtoy"]["points"]] == [0.25, 0.5, 1.0]


def _plan_of(monkeypatch, *experiments: str) -> None:
    """The study's plan cut to ``experiments`` (the rest of the plan is the built-ins' test)."""
    from elpagen.study import runner as study_runner

    full = study_runner.plan
    monkeypatch.setattr(study_runner, "plan", lambda s: [
        u for u in full(s) if u.experiment in experiments])


def test_a_plugin_runs_in_the_study_and_its_report(plugin, tmp_path, monkeypatch):
    _plan_of(monkeypatch, "class1", "frontier")
    d = tmp_path / "study"
    assert cli.main(["study", "--quick", "-q", "--seeds", "1", "--models",
                     f"{plugin}:MyGen,marginal", "--frontier5-samples", "0", "-o", str(d)]) == 0
    res = json.loads((d / "results.json").read_text())
    assert res["settings"]["models"] == ["plugtoy", "marginal"]
    assert res["experiments"]["class1"]["models"]["plugtoy"]["n_fits"] == 1
    assert "plugtoy" in res["frontier"]["class1"]["models"]
    assert "plugtoy" in (d / "report.html").read_text()


def test_a_plugin_runs_on_dask_workers(plugin, tmp_path, monkeypatch):
    """The record travels in the study's context; the worker imports the module."""
    pytest.importorskip("distributed")
    from elpagen.study import distributed, run_study, store

    _plan_of(monkeypatch, "class1")
    d = tmp_path / "dask"
    result = run_study(d, quick=True, n_seeds=1, models=[f"{plugin}:MyGen"],
                       frontier5_samples=0, execute=distributed.executor(workers=1))
    assert result["complete"]
    with store.Store.open_readonly(d) as s:
        units = s.units()
    assert [(u["model"], u["status"]) for u in units] == [("plugtoy", "ok")]


# --------------------------------------------------------------------------- the Python API


def test_python_benchmark_returns_a_table(plugin, train, reference):
    import importlib

    gen = importlib.import_module(plugin).MyGen
    table = elpagen.benchmark([gen, "marginal"], target_class=1, seeds=2, samples=500,
                              train=train, reference=reference)
    assert isinstance(table, elpagen.BenchmarkTable)
    text = str(table)
    assert "plugtoy" in text and "marginal" in text and text.startswith("class 1, 500 valid")
    assert table.models == ("plugtoy", "marginal")
    assert 0 < table.means["plugtoy"]["precision"] <= 1
    assert table.result["models"]["marginal"]["precision"]["mean"] == \
        table.means["marginal"]["precision"]
    assert "| marginal baseline |" in table.to_markdown()
    assert json.loads(table.to_json())["seed_values"] == [0, 1]
    with pytest.raises(elpagen.UserError, match="unknown model 'nope'"):
        elpagen.benchmark(["nope"], train=train, reference=reference)
    with pytest.raises(elpagen.UserError, match="a model is a name, module.path:ClassName or a "
                                                "generator class, got an int"):
        elpagen.benchmark([3], train=train, reference=reference)


def test_readme_api_example_runs(train, reference, capsys):
    """The README's second Python block (elpagen.benchmark) runs after the first."""
    readme = Path(__file__).resolve().parents[1] / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), flags=re.S)
    ns: dict = {"__name__": "readme_example"}
    try:
        for block in blocks[:2]:
            exec(compile(block, "README.md", "exec"), ns)  # noqa: S102 - our own README
        assert isinstance(ns["table"], elpagen.BenchmarkTable)
        assert "mine" in capsys.readouterr().out
    finally:
        catalogue.unregister("mine")


# --------------------------------------------------------------------------- broken generators


@pytest.mark.parametrize(("cls", "match"), [
    ("FitRaises", "generator 'fitraises' raised ValueError in fit: no pool for this class"),
    ("ProposeRaises", "generator 'proposeraises' raised RuntimeError in propose: propose broke"),
    ("WrongShape", "generator 'wrongshape': propose(1024, ...) returned shape (1024, 4), "
                   "expected (1024,) int codes"),
    ("OutOfRange", "generator 'outofrange': propose(1024, ...) returned 1,024 code(s) outside "
                   "-1..2313440, e.g. 99999999"),
    ("Repeated", "generator 'repeated': propose(1024, ...) returned 1,024 code(s) of grid "
                 "points that are not compositions of the elpasolite space, e.g. 0 (HHH2H6)"),
    ("FloatCodes", "generator 'floatcodes': propose(1024, ...) returned float64 values"),
    ("NoSeed", "generator 'noseed' raised TypeError in NoSeed(seed=0): "),
])
def test_a_broken_generator_is_one_line_naming_it(plugin, capsys, cls, match):
    line = one_line_error(capsys, "benchmark", "--models", f"{plugin}:{cls}", "-n", "100",
                          "--seeds", "1", "-q", match=match)
    assert "second line" not in line


def test_the_checks_of_proposals():
    codes = np.array([-1, 1602, 1602], dtype=np.int32)  # 1602: H He Li Be
    assert check_proposals(codes, 3, "g", ELPASOLITE) is not None
    assert check_proposals([1602, -1], 2, "g", ELPASOLITE).tolist() == [1602, -1]
    for raw, match in [(None, "returned None"), ([1602], r"shape \(1,\), expected \(2,\)"),
                       (np.array([1602, 5_000_000]), "1 code\\(s\\) outside"),
                       (np.array([True, False]), "bool values"),
                       (np.array([1602, -2]), "e.g. -2")]:
        with pytest.raises(GeneratorError, match=match):
            check_proposals(raw, 2, "g", ELPASOLITE)


def test_a_bug_in_a_builtin_keeps_its_traceback(monkeypatch, train):
    """A built-in model's exception is a bug: not turned into a user error."""
    from elpagen.baselines import MarginalSampler

    def broken(self, train, target_class=None):
        raise ValueError("a bug")

    monkeypatch.setattr(MarginalSampler, "fit", broken)
    with pytest.raises(ValueError, match="a bug") as e:
        trial.fit("marginal", train, [0], 1)
    assert not isinstance(e.value, elpagen.UserError)


# --------------------------------------------------------------------------- entry points


def test_installed_plugins_come_from_entry_points(plugin, tmp_path, monkeypatch, capsys):
    """A fake installed package (a dist-info directory on sys.path) announces a generator
    class, a ModelSpec, and a plug-in that does not import (one warning, skipped)."""
    site = tmp_path / "site"
    dist = site / "elpagen_fake_plugin-1.2.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: elpagen-fake-plugin\n"
                                   "Version: 1.2\n")
    (dist / "entry_points.txt").write_text(
        "[elpagen.generators]\n"
        f"epgen = {plugin}:MyGen\n"
        "epspec = elpagen_fake_specs:SPEC\n"
        "broken = nosuchmodule_xyz:Gen\n")
    (site / "elpagen_fake_specs.py").write_text(textwrap.dedent(f"""
        from elpagen.catalogue import ModelSpec
        SPEC = ModelSpec("epspec", "{plugin}:MyGen", label="Entry-point spec", color="C6")
    """))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "elpagen_fake_specs", raising=False)
    catalogue.reset()  # installed plug-ins are read again on the next lookup
    try:
        with pytest.warns(catalogue.PluginWarning, match="plug-in 'broken' .* not loaded: "
                                                         "ModuleNotFoundError"):
            assert {"epgen", "epspec"} <= set(catalogue.names())
        assert "broken" not in catalogue.names()
        ep = catalogue.get("epgen")
        assert ep.target == f"{plugin}:MyGen" and ep.version == "0.3"
        assert catalogue.get("epspec").version == "1.2"  # the package's version
        assert catalogue.label("epspec") == "Entry-point spec"
        assert cli.main(["benchmark", "--models", "epgen,epspec", "-n", "200", "--seeds", "1",
                         "--jobs", "1", "-q", "--json"]) == 0
        r = json.loads(capsys.readouterr().out)
        assert list(r["models"]) == ["epgen", "epspec"]
    finally:
        monkeypatch.undo()  # the fake package leaves sys.path before the catalogue reads again
        catalogue.reset()


def test_a_plugin_raising_in_a_campaign_fit_is_one_line(plugin, train):
    """The campaign's generator strategies fit through the harness's one fit: a plug-in
    that raises in fit is the same one line as in the benchmark."""
    from elpagen.campaign.generative import fit_catalogue

    with pytest.raises(GeneratorError, match=re.escape(
            "generator 'fitraises' raised ValueError in fit: no pool for this class")) as e:
        fit_catalogue(f"{plugin}:FitRaises", train, 0, 1, {})
    assert "second line" not in str(e.value)


def test_one_fit_for_the_harness_and_the_campaign(plugin, train):
    """trial.fit is fit_one per seed; the campaign's fit_catalogue is fit_one too."""
    from elpagen.campaign.generative import fit_catalogue

    [a] = trial.fit(f"{plugin}:MyGen", train, [3], 1)
    b = trial.fit_one(f"{plugin}:MyGen", train, 3, 1)
    c = fit_catalogue(f"{plugin}:MyGen", train, 3, 1, {})
    assert type(a) is type(b) is type(c) and a.seed == b.seed == c.seed == 3
    draws = [g.sample(50, 1, seed=9).codes.tolist() for g in (a, b, c)]
    assert draws[0] == draws[1] == draws[2]
    with pytest.raises(InputError, match="has no settings"):
        trial.fit_one(f"{plugin}:MyGen", train, 0, 1, overrides={"x": 1})
