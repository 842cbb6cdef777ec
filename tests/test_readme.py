"""The README's Python example runs as written (so it cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(reference, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no Python example"
    ns: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), ns)  # noqa: S102 - our own README
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("precision ") and "coverage" in out[1]
    # The generator draws class-1 training compositions only: nearly all are class 1.
    assert ns["scores"]["precision"] > 0.5
    assert ns["scores"]["n_samples"] == 10_000


def test_api_evaluate_accepts_symbols_and_codes(reference, train):
    import numpy as np

    import elpagen

    space = train.space
    rows = [["K", "Na", "Al", "F"], ["Li", "Li", "Na", "F"]]  # the second repeats Li
    m = elpagen.evaluate(rows, 1, train=train, reference=reference)
    code = space.encode(space.symbols_to_indices(np.array(rows[:1], dtype=object)))
    m2 = elpagen.evaluate(code, 1, train=train, reference=reference)
    assert m["precision"] == m2["precision"] and (m["n_valid"], m["n_samples"]) == (1, 2)
    with pytest.raises(elpagen.UserError, match="unknown element"):
        elpagen.evaluate([["K", "Na", "Xx", "F"]], 1, train=train, reference=reference)
    with pytest.raises(elpagen.UserError, match="4 element symbols"):
        elpagen.evaluate([["K", "Na"]], 1, train=train, reference=reference)


def test_readme_table_is_what_make_run_prints():
    """The README's class-1 table states the protocol, samples and seeds `make run` uses."""
    from elpagen.cli import build_parser

    text = README.read_text()
    m = re.search(r"`make run` prints.*?```\nclass 1, ([\d,]+) valid samples, (\d+) seed\(s\), "
                  r"(fast|paper) protocol\n", text, flags=re.S)
    assert m, "the README's class-1 table must say it is what `make run` prints"
    from elpagen.harness.config import METHOD_SAMPLES

    args = build_parser().parse_args(["run"])
    # No --samples: the method's N on the elpasolite (harness.config.default_samples).
    assert int(m.group(1).replace(",", "")) == (args.samples or METHOD_SAMPLES) == 10_000
    assert int(m.group(2)) == args.seeds
    assert m.group(3) == args.protocol


def test_docs_cite_only_files_of_this_repository():
    """Help texts, the report and docs cite docs/method.md, whose sections exist."""
    root = README.parent
    sections = set(re.findall(r"^## (\d+)\.", (root / "docs" / "method.md").read_text(),
                              flags=re.M))
    files = [*root.glob("src/elpagen/**/*.py"), *root.glob("docs/*.md"), README]
    for p in files:
        text = p.read_text()
        assert not re.search(r"\bMETHOD(\.md)?\b(?! = )", text.replace("docs/method.md", "")), p
        for s in re.findall(r"docs/method\.md,? (?:section|§) ?(\d+)", text):
            assert s in sections, f"{p}: cites docs/method.md section {s}"
