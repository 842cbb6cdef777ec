"""docs/tutorial.md runs as written, in an empty directory (so it cannot rot).

The page's fenced blocks, in order:

- ```` ```python file=NAME ````: written to NAME (the user saves it);
- ```` ```python ````: executed, all in one namespace (one Python session), with the
  directory on ``sys.path`` as in a session started there;
- ```` ```text ```` right after a ```` ```python ```` block: what that block prints, exactly;
- ```` ```bash ````: every line runs; only ``export NAME=VALUE`` and ``elpagen ...`` lines
  are allowed (the latter through :func:`elpagen.cli.main`, in this process), so a command
  the test cannot run cannot slip in unnoticed;
- ```` ```sh ````: installation and data set-up, shown only (the test has them already).

Then the claims the prose makes about the numbers are checked.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

from elpagen import catalogue, cli

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"
BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```\s*$", flags=re.S | re.M)


def blocks() -> list[tuple[str, str, str]]:
    """(language, info after it, body) of every fenced block, in order."""
    return [(m.group(1), m.group(2).strip(), m.group(3))
            for m in BLOCK.finditer(TUTORIAL.read_text())]


def commands(body: str) -> list[list[str]]:
    """The words of each shell command of a block (backslash continuations joined)."""
    return [w for line in body.replace("\\\n", " ").splitlines()
            if (w := shlex.split(line, comments=True))]


def run_shell(body: str, monkeypatch) -> None:
    for words in commands(body):
        if words[0] == "export" and len(words) == 2 and "=" in words[1]:
            name, _, value = words[1].partition("=")
            monkeypatch.setenv(name, value)
            if name == "PYTHONPATH":  # what a fresh `elpagen` process would see
                for p in reversed(value.split(os.pathsep)):
                    monkeypatch.syspath_prepend(str(Path(p).resolve()))
        elif words[0] == "elpagen":
            assert cli.main(words[1:]) == 0, shlex.join(words)
        else:
            pytest.fail(f"docs/tutorial.md: a bash block runs {shlex.join(words)!r}; only "
                        "`export` and `elpagen` lines run in the test (set-up goes in `sh`)")


@pytest.fixture
def one_thread():
    """One torch thread, as the `elpagen` command uses: elpagen.benchmark in this process
    would otherwise take every core, which collapses on a shared CI machine."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def workdir(tmp_path, monkeypatch, reference):  # reference: the cached energies, built once
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("mygen", None)
    catalogue.unregister("mutator")  # registered on the fly by elpagen.benchmark


def test_tutorial_runs_as_written(workdir, monkeypatch, capsys, one_thread):
    bs = blocks()
    assert {lang for lang, _, _ in bs} <= {"python", "text", "bash", "sh"}, bs
    ns: dict = {"__name__": "__tutorial__"}
    printed = None  # what the last python block printed, for a text block after it
    for lang, info, body in bs:
        if lang == "python" and info.startswith("file="):
            (workdir / info.removeprefix("file=")).write_text(body)
            printed = None
        elif lang == "python":
            capsys.readouterr()
            exec(compile(body, str(TUTORIAL), "exec"), ns)  # noqa: S102 - our own docs
            printed = capsys.readouterr().out
        elif lang == "text":
            assert printed is not None, f"a text block follows no python block:\n{body}"
            assert printed == body, f"docs/tutorial.md shows\n{body}but it printed\n{printed}"
            printed = None
        elif lang == "bash":
            run_shell(body, monkeypatch)
            printed = None

    # Section 3: the mutator is the more precise, the marginal baseline covers more.
    mine, marginal = ns["mine"], ns["marginal"]
    assert (round(mine["precision"], 2), round(marginal["precision"], 2)) == (0.77, 0.65)
    assert (round(mine["coverage"], 2), round(marginal["coverage"], 2)) == (0.17, 0.23)
    assert ns["table"].means["vae"]["precision"] < marginal["precision"]

    # Section 4: the frontiers and the numbers quoted from them.
    fr = json.loads((workdir / "frontier" / "frontier_class1.json").read_text())["models"]
    assert (workdir / "frontier" / "frontier_class1.png").stat().st_size > 0
    hv = {m: round(fr[m]["hypervolume"]["mean"], 3) for m in ("mutator", "marginal")}
    assert hv == {"mutator": 0.186, "marginal": 0.202}
    pts = {(m, p["knob"]): p for m in fr for p in fr[m]["points"]}
    t05, r01 = pts["marginal", 0.5], pts["mutator", 0.1]
    assert (round(t05["precision"]["mean"], 2), round(t05["coverage"]["mean"], 2)) == (0.86, 0.19)
    assert (round(r01["precision"]["mean"], 2), round(r01["coverage"]["mean"], 2)) == (0.87, 0.09)

    # Section 5: one submission per model, ranked.
    sub = workdir / "submission"
    assert sorted(p.name for p in sub.glob("submission_*.json")) == [
        "submission_marginal_class1.json", "submission_mutator_class1.json",
        "submission_vae_class1.json"]
    assert json.loads((sub / "submission_mutator_class1.json").read_text())["generator"][
        "version"] == "0.1"
    board = capsys.readouterr().out
    assert re.search(r"^\| \d+ \| mutator \| 0\.1 \|", board, flags=re.M), board
