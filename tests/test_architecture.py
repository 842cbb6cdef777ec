"""The package's import direction (docs/design.md, "Map"): layers point one way.

Imports are read from the source with ``ast``, including those inside functions (a lazy
import is still a dependency), so the test needs no import side effects. Imports under
``if TYPE_CHECKING:`` are for annotations only and never run: they are no dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "elpagen"

#: Rank of each module or package; a module may import only ranks <= its own.
LAYERS: dict[str, int] = {
    "errors": 0, "version": 0,
    "space": 1, "allocator": 1, "spaces": 1,
    "data": 2, "io": 2, "memory": 2, "threads": 2, "settings": 2, "machine": 2, "records": 2,
    "searchdims": 2, "fetch": 2, "table": 2, "seeds": 2, "generations": 2, "progress": 2,
    "generator": 3, "reference": 3, "reference_krr": 3, "reference_cv": 3,
    "reference_cache": 3, "metrics": 3, "discovery": 3, "expected": 3, "metric_specs": 3,
    "estimates": 3,
    "models": 4, "baselines": 4,
    "catalogue": 5, "harness": 5, "api": 5, "study": 5, "report": 5, "search": 5,
    "materials": 5, "prototypes": 5, "smact_screen": 5, "submission": 5, "leaderboard": 5,
    "agreement": 5, "campaign": 5, "truth": 5,
    "cli": 6, "__main__": 6,
}
#: Code that must never see the full-space reference energies (training on the test set).
BLIND = ("models", "baselines", "search", "generator", "data")


def _modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        rel = p.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(["elpagen", *parts])] = p
    return out


MODULES = _modules()


def _is_type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(name: str) -> set[str]:
    """elpagen modules imported by ``name`` (an attribute import maps to its module)."""
    tree = ast.parse(MODULES[name].read_text())
    pkg = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    typing_only = {id(n) for node in ast.walk(tree) if _is_type_checking(node)
                   for stmt in node.body for n in ast.walk(stmt)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("elpagen")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("elpagen"):
                continue
            for a in node.names:
                sub = f"{mod}.{a.name}"
                found.add(sub if sub in MODULES else mod)
    # `from elpagen import __version__` reads the root package's first line, nothing more.
    found.discard("elpagen")
    return {m for m in found if m in MODULES and m != name}


GRAPH = {m: _imports(m) for m in MODULES}


def _top(name: str) -> str:
    return name.split(".")[1] if name.count(".") else ""


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m != "elpagen"))
def test_imports_point_down(name: str) -> None:
    top = _top(name)
    assert top in LAYERS, f"{name}: add its package to LAYERS and to the map in docs/design.md"
    for dep in GRAPH[name]:
        dtop = _top(dep)
        if dtop == top:
            continue  # inside one package
        assert LAYERS[dtop] <= LAYERS[top], (
            f"{name} (layer {LAYERS[top]}) imports {dep} (layer {LAYERS[dtop]}): upward"
        )


def test_nothing_imports_the_cli() -> None:
    # elpagen.__main__ is the console script: it answers --version, then calls the cli.
    users = [m for m, deps in GRAPH.items() if _top(m) not in ("cli", "__main__")
             and any(_top(d) == "cli" for d in deps)]
    assert users == []


def test_no_import_circles() -> None:
    """No circle between modules (inside a package or across)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(GRAPH[m]):
            if d == "elpagen" or (MODULES[d].name == "__init__.py" and m.startswith(d + ".")):
                continue  # a module may use its own package's namespace
            if state.get(d) == 1:
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(MODULES):
        if m not in state:
            visit(m)


def test_blind_code_never_reaches_the_reference_energies() -> None:
    """Models, baselines, the search, generators and the data never import the reference_module,
    not even through another module."""
    for m in MODULES:
        if _top(m) not in BLIND:
            continue
        seen, todo = set(), [m]
        while todo:
            cur = todo.pop()
            for d in GRAPH[cur]:
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        assert "elpagen.reference" not in seen, f"{m} can reach elpagen.oracle"
        # The trial loop takes its scorer from the caller; the benchmark and the frontier
        # score with the reference energies, so blind code never reaches them.
        for scoring in ("elpagen.api", "elpagen.harness.benchmark", "elpagen.harness.frontier",
                        "elpagen.study.unit"):
            assert scoring not in seen, f"{m} can reach {scoring}"


def test_energy_driven_generators_are_blind() -> None:
    """The GFlowNet's reward and the surrogate are energy models fitted on the training
    set (one regressor, :mod:`elpagen.models.regressor`); all sit in blind packages, so the
    test above keeps them off the oracle."""
    for m in ("elpagen.models.gfn", "elpagen.models.regressor", "elpagen.baselines"):
        assert m in MODULES and _top(m) in BLIND, m


def test_campaign_strategies_are_blind() -> None:
    """A campaign's strategies see only the labels they bought: they never reach the
    reference energies, the labeller or the runner that holds them."""
    reach = _reach("elpagen.campaign.strategies")
    for m in ("elpagen.reference", "elpagen.campaign.labeller", "elpagen.campaign.run",
              "elpagen.api", "elpagen.harness.benchmark", "elpagen.study.unit"):
        assert m not in reach, m
    assert "elpagen.reference" not in _reach("elpagen.campaign.labeller")


def _reach(name: str) -> set[str]:
    """Every elpagen module ``name`` imports, directly or through another."""
    seen, todo = set(), [name]
    while todo:
        for d in GRAPH[todo.pop()]:
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def test_models_build_on_no_baseline() -> None:
    """The models sit beside the baselines, not above them: the GFlowNet's reward fits the
    regressor of its own package, which the surrogate baseline uses in turn."""
    assert "elpagen.models.regressor" in GRAPH["elpagen.models.gfn"]
    for m in MODULES:
        if _top(m) == "models":
            assert "elpagen.baselines" not in _reach(m), m
    assert "elpagen.models.regressor" in GRAPH["elpagen.baselines"]


def _third_party(name: str) -> set[str]:
    """Top-level names of the non-elpagen packages ``name`` imports (lazy ones included)."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found - {"elpagen"}


def test_settings_need_no_torch() -> None:
    """The CLI parser reads settings and protocols without importing torch."""
    for m in ("elpagen.settings", "elpagen.models.protocols"):
        for dep in {m} | _reach(m):
            assert "torch" not in _third_party(dep), f"{m} imports torch through {dep}"


def test_no_private_names_across_modules() -> None:
    """`from elpagen.x import _name` or `x._name` from another module: promote it instead."""
    offenders = []
    files = list(SRC.rglob("*.py")) + list((SRC.parents[1] / "benchmarks").glob("*.py"))
    for p in files:
        tree = ast.parse(p.read_text())
        modules: set[str] = set()  # local names bound to elpagen modules
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("elpagen"):
                offenders += [f"{p.name}: {a.name}" for a in node.names
                              if a.name.startswith("_") and a.name != "__version__"]
                modules |= {a.asname or a.name for a in node.names
                            if f"{node.module}.{a.name}" in MODULES}
            elif isinstance(node, ast.Import):
                modules |= {a.asname for a in node.names
                            if a.asname and a.name.startswith("elpagen")}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in modules and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                offenders.append(f"{p.name}: {node.value.id}.{node.attr}")
    assert offenders == []


def test_modules_stay_small() -> None:
    """Near 450 lines; the exceptions hold one concept each (docs/design.md says which);
    no file over 650."""
    allowed = {"metrics.py": 650, "store.py": 520, "space.py": 520}
    for name, p in MODULES.items():
        n = len(p.read_text().splitlines())
        assert n <= min(allowed.get(p.name, 480), 650), f"{name}: {n} lines"


def test_no_arrow_back_to_the_root_package() -> None:
    """Only submodules are imported from ``elpagen``: ``__version__`` lives in
    :mod:`elpagen.version` (floor 0), so nothing reads the root package's namespace."""
    offenders = []
    for name, path in MODULES.items():
        if name == "elpagen":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "elpagen" and not node.level:
                offenders += [f"{name}: {a.name}" for a in node.names
                              if f"elpagen.{a.name}" not in MODULES]
    assert offenders == []


#: The modules that define a composition space; only they may spell one out.
SPACE_MODULES = {"elpagen.space"} | {m for m in MODULES if m.startswith("elpagen.spaces")}
#: Numbers that only the elpasolite space may name: its element count, its grid, its size,
#: its pairs grid, its 8-wide representation's scale.
ELPASOLITE_NUMBERS = {39, 38 * 37, 39**2, 39**3, 39**4, 39 * 38 * 37 * 36}
#: The module-level names of the old, elpasolite-only space module.
OLD_SPACE_NAMES = {"N_GRID", "N_ELEMENTS", "N_SITES", "N_SPACE", "SITES", "ELEMENTS", "ROW",
                   "GROUP", "LOOKUP", "N_ROWS", "N_GROUPS", "SYMBOL_TO_INDEX", "swap_ab",
                   "is_distinct"}


def test_only_the_space_modules_know_a_space() -> None:
    """No module outside the space's definition names the elpasolite's element count, grid
    or size, lists its site letters, or reads the old module constants of ``elpagen.space``."""
    offenders = []
    for name, path in MODULES.items():
        if name in SPACE_MODULES:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and type(node.value) is int
                    and node.value in ELPASOLITE_NUMBERS):
                offenders.append(f"{name}:{node.lineno} {node.value}")
            elif isinstance(node, (ast.Tuple, ast.List)):
                strs = [e.value for e in node.elts if isinstance(e, ast.Constant)]
                if strs[:4] == ["A", "B", "C", "D"]:
                    offenders.append(f"{name}:{node.lineno} the site letters")
            elif (isinstance(node, ast.Attribute) and node.attr in OLD_SPACE_NAMES
                  and isinstance(node.value, ast.Name) and node.value.id == "space"):
                offenders.append(f"{name}:{node.lineno} space.{node.attr}")
            elif (isinstance(node, ast.ImportFrom) and node.module == "elpagen.space"
                  and any(a.name in OLD_SPACE_NAMES for a in node.names)):
                offenders.append(f"{name}:{node.lineno} from elpagen.space import ...")
    assert offenders == [], "space-specific names outside the space modules: " + ", ".join(
        offenders)


def test_models_metrics_and_strategies_take_the_space_they_are_given() -> None:
    """A model, metric, generator or campaign strategy never imports a particular space:
    it reads ``train.space`` or ``reference.space``, so no such module imports
    :mod:`elpagen.spaces`. (Model persistence names the default space only to load model
    directories saved before spaces were recorded.)"""
    code = [m for m in MODULES if _top(m) in ("models", "baselines", "campaign")]
    code += ["elpagen.metrics", "elpagen.discovery", "elpagen.expected", "elpagen.generator"]
    for m in code:
        if m == "elpagen.models.persistence":
            continue
        assert not any(d.startswith("elpagen.spaces") for d in GRAPH[m]), m


def _top_level_imports(name: str) -> set[str]:
    """The elpagen modules ``name`` imports when it is loaded (not inside functions)."""
    tree = ast.parse(MODULES[name].read_text())
    out = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("elpagen"):
            out |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES
                    else node.module for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("elpagen")}
    return out - {"elpagen"}


def test_the_study_plan_imports_nothing_that_computes() -> None:
    """study/plan.py is pure: the standard library, the catalogue's records and the errors;
    nothing that fits, samples, scores or stores. (The catalogue loads a model's class only
    when asked for it, which the plan never does.)"""
    import sys

    assert GRAPH["elpagen.study.plan"] <= {"elpagen.catalogue", "elpagen.errors"}
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    light = {"elpagen.errors", "elpagen.searchdims"}
    assert _top_level_imports("elpagen.catalogue") <= light
    for m in ("elpagen.study.plan", "elpagen.catalogue", *light):
        assert _third_party(m) <= stdlib, f"{m} imports {_third_party(m) - stdlib}"


def _builtin_names() -> dict[str, str]:
    """Built-in model name -> the module that defines its class (from the catalogue's
    records, read with ast: this test needs no import side effects)."""
    tree = ast.parse((SRC / "catalogue.py").read_text())
    out = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "ModelSpec"
                and len(node.args) >= 2):
            name, target = (a.value for a in node.args[:2])
            out[name] = "elpagen." + target.partition(":")[0].removeprefix("elpagen.")
    return out


#: Strings equal to a model name that mean something else (each with its reason).
NOT_A_MODEL = {
    ("elpagen.search.spec", "random"): "Optuna's random sampler (--sampler random)",
    ("elpagen.search.worker", "random"): "the default --sampler (Optuna's random sampler)",
    ("elpagen.cli.search", "random"): "the default --sampler (Optuna's random sampler)",
    # Campaign strategies are their own namespace (a strategy, not a generator's record):
    # their records (elpagen.campaign.catalogue) and their classes.
    **{("elpagen.campaign.catalogue", n): f"the {n} campaign strategy's record"
       for n in ("random", "marginal", "ar", "vae", "gan", "rl", "gfn")},
    ("elpagen.campaign.scoring", "random"): "the random campaign strategy",
    ("elpagen.campaign.generative", "marginal"): "the marginal campaign strategy",
    ("elpagen.campaign.generative", "ar"): "the ar campaign strategy",
    ("elpagen.campaign.generative", "vae"): "the vae campaign strategy",
    ("elpagen.campaign.generative", "gan"): "the gan campaign strategy",
    ("elpagen.campaign.generative", "rl"): "the rl campaign strategy",
    ("elpagen.campaign.generative", "gfn"): "the gfn campaign strategy",
    ("elpagen.campaign.run", "random"): "a random start set; random's expectation curve",
    ("elpagen.campaign.plot", "random"): "random's expectation curve",
}


def test_no_model_name_literal_outside_its_module_and_record() -> None:
    """A built-in model is spelled in its own module and its catalogue record only: every
    other module reads the catalogue (so adding a generator is one module and one record)."""
    names = _builtin_names()
    assert {"vae", "gan", "rl", "ar", "gfn", "marginal", "random", "surrogate"} <= set(names)
    offenders = []
    for mod, path in MODULES.items():
        if mod == "elpagen.catalogue":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and node.value in names and names[node.value] != mod
                    and (mod, node.value) not in NOT_A_MODEL):
                offenders.append(f"{mod}:{node.lineno} {node.value!r}")
    assert offenders == [], "model names spelled outside the catalogue: " + ", ".join(offenders)
