"""Conventions of a Python package (issue 27 item 3): ``python -m elpagen``, a ``--version``
that needs nothing but the standard library, a LICENSE and a CITATION.cff, project URLs,
and help texts that match the docs."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

#: Runs the console script's entry point with numpy, torch and the rest refused at import,
#: as in a `pip install --no-deps` copy.
NO_DEPS = """
import importlib, sys
BLOCKED = {"numpy", "torch", "matplotlib", "tqdm", "platformdirs", "optuna", "threadpoolctl"}
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
sys.meta_path.insert(0, Refuse())
module, _, attr = sys.argv[1].partition(":")
sys.exit(getattr(importlib.import_module(module), attr)(sys.argv[2:]))
"""


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          timeout=60, cwd=ROOT)


def test_version_needs_only_the_standard_library() -> None:
    entry = PYPROJECT["project"]["scripts"]["elpagen"]
    r = _run("-c", NO_DEPS, entry, "--version")
    assert (r.returncode, r.stdout, r.stderr) == (
        0, f"elpagen {PYPROJECT['project']['version']}\n", "")
    # The blocker does block: any other command needs numpy, and says so in one line.
    r = _run("-c", NO_DEPS, entry, "data")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.startswith("error: elpagen needs ") and r.stderr.count("\n") == 1


def test_python_dash_m_elpagen() -> None:
    r = _run("-m", "elpagen", "--version")
    assert (r.returncode, r.stdout) == (0, f"elpagen {PYPROJECT['project']['version']}\n")
    r = _run("-m", "elpagen", "data", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: elpagen data")


def test_license_citation_and_urls() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and "LICENSE" in project["license-files"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "the elpagen developers" in text
    yaml = __import__("pytest").importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["version"] == project["version"] and cff["license"] == "MIT"
    dois = {r.get("doi") for r in cff["references"]}
    # The study it reproduces (Türk et al. 2022) and the DFT data (Faber et al. 2016).
    assert {"10.1021/acs.chemmater.2c01860", "10.1103/PhysRevLett.117.135502"} <= dois
    assert set(project["urls"]) == {"Homepage", "Documentation", "Source", "Issues"}
    assert all(u.startswith("https://") for u in project["urls"].values())


def test_the_board_ships_as_package_data() -> None:
    """src/elpagen/board links to docs/leaderboard, whose .json files the wheel ships."""
    from importlib.resources import files

    shipped = sorted(p.name for p in (files("elpagen") / "board").iterdir()
                     if p.name.endswith(".json"))
    assert shipped and shipped == sorted(p.name for p in (ROOT / "docs/leaderboard")
                                         .glob("*.json"))
    assert "**/*.json" in PYPROJECT["tool"]["setuptools"]["package-data"]["elpagen"]


def _subparsers(parser):
    import argparse

    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            yield from dict.fromkeys(a.choices.values())  # an alias is the same parser


def test_help_texts_wrap_at_spaces_only() -> None:
    """No help text is cut inside a word ("ran dom"), even at a narrow width."""
    import argparse

    from elpagen.cli.main import build_parser

    parser = build_parser()
    for p in [parser, *_subparsers(parser)]:
        formatter = p._get_formatter()
        for a in p._actions:
            if not a.help or a.help == argparse.SUPPRESS:
                continue
            text = formatter._expand_help(a)
            for width in (30, 56):
                assert " ".join(formatter._split_lines(text, width)).split() == text.split(), \
                    (p.prog, a.dest)


def test_help_texts_match_the_docs() -> None:
    """benchmark --help names plug-in classes and the tutorial's --set; the README's
    default model lists are the catalogue's."""
    import re

    from elpagen import catalogue
    from elpagen.catalogue import Command
    from elpagen.cli.main import build_parser

    parser = build_parser()
    bench = next(p for p in _subparsers(parser) if p.prog == "elpagen benchmark")
    text = " ".join(bench.format_help().split())
    assert "module.path:Class" in text and "--set vae.steps=300" in text
    assert "--set vae.steps=300" in (ROOT / "docs" / "tutorial.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for command, cmd in (("benchmark", Command.BENCHMARK), ("frontier", Command.FRONTIER)):
        row = next(ln for ln in readme.splitlines() if ln.startswith(f"| `elpagen {command} "))
        listed = re.search(r"default models ([a-z, ]+?)[;)]", row)
        assert listed and listed.group(1) == ", ".join(catalogue.names(default_for=cmd)), row
