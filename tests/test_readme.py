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
    from elpagen import space

    rows = [["K", "Na", "Al", "F"], ["Li", "Li", "Na", "F"]]  # the second repeats Li
    m = elpagen.evaluate(rows, 1, train=train, reference=reference)
    code = space.encode(space.symbols_to_indices(np.array(rows[:1])))
    m2 = elpagen.evaluate(code, 1, train=train, reference=reference)
    assert m["precision"] == m2["precision"] and (m["n_valid"], m["n_samples"]) == (1, 2)
    with pytest.raises(elpagen.UserError, match="unknown element"):
        elpagen.evaluate([["K", "Na", "Xx", "F"]], 1, train=train, reference=reference)
    with pytest.raises(elpagen.UserError, match="four element symbols"):
        elpagen.evaluate([["K", "Na"]], 1, train=train, reference=reference)
