"""Figures drawn once: a report rebuilt from results its figures have already shown keeps
them (a resumed study with nothing new, ``elpagen report`` run again, a killed run marked).

Drawing is most of a report's time (13 s of matplotlib for a quick study's report on one
core of the 2-core AMD EPYC sandbox), and a resume or a rerun of ``elpagen report`` changes
only what the figures never show (the runs, the date, the machine). A figure is kept when
its inputs and its files are both unchanged:

* the inputs' fingerprint: the results less :data:`VOLATILE`, the labels and colours the
  catalogues give the models and strategies (a plug-in may change them), and the source of
  the report package and matplotlib's version (a change of drawing code redraws all);
* the files: the PNG and the SVG still hash to what was written (one deleted or edited by
  hand is redrawn).

The record is ``DIR/.figures.json``; a missing, unreadable or foreign one redraws
everything, so it can never make a report wrong, only slower.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from elpagen.data import sha256_of
from elpagen.study.store import atomic_write_bytes

#: Where the record lies, in the study directory.
RECORD = ".figures.json"
#: Keys of results.json no figure reads (tests/test_output_report.py checks it): they
#: change on every run and must not force a redraw.
VOLATILE = frozenset({"generated", "runs", "environment", "progress", "complete", "figures"})


def fingerprint(r: Mapping[str, Any]) -> str:
    """What the figures of ``r`` are drawn from (see the module's docstring)."""
    import matplotlib

    from elpagen import catalogue
    from elpagen.campaign import catalogue as strategies

    h = hashlib.sha256()
    h.update(matplotlib.__version__.encode())
    for src in sorted(Path(__file__).parent.glob("*.py")):
        h.update(src.name.encode() + src.read_bytes())
    inputs = {k: v for k, v in r.items() if k not in VOLATILE}
    looks = {
        "models": {m: [catalogue.color(m, None), catalogue.label(m)]
                   for m in r.get("settings", {}).get("models", [])},
        "strategies": {s: [strategies.color(s), strategies.label(s)]
                       for s in (r.get("campaign") or {}).get("strategies", [])},
    }
    h.update(json.dumps([inputs, looks], sort_keys=True, default=str).encode())
    return h.hexdigest()


class FigureCache:
    """The figures of ``directory`` drawn from the inputs of ``fingerprint``: :meth:`get`
    a kept figure's caption, :meth:`put` one just drawn, :meth:`save` the record."""

    def __init__(self, directory: Path, fingerprint: str) -> None:
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.entries: dict[str, dict[str, str]] = {}
        try:
            rec = json.loads((self.directory / RECORD).read_text())
            if rec.get("fingerprint") == fingerprint and isinstance(rec.get("figures"), dict):
                self.entries = rec["figures"]
        except (OSError, ValueError, AttributeError):
            pass  # no record, or not one we can read: draw everything

    def _hashes(self, name: str) -> dict[str, str] | None:
        from elpagen.report.layout import svg_path

        png = self.directory / name
        try:
            return {"png": sha256_of(png), "svg": sha256_of(svg_path(png))}
        except OSError:
            return None

    def get(self, name: str) -> str | None:
        """The caption of ``name`` when its files are the ones drawn from these inputs."""
        e = self.entries.get(name)
        if not isinstance(e, dict) or not isinstance(e.get("caption"), str):
            return None
        h = self._hashes(name)
        return e["caption"] if h and h == {"png": e.get("png"), "svg": e.get("svg")} else None

    def put(self, name: str, caption: str) -> None:
        h = self._hashes(name)
        if h:
            self.entries[name] = {"caption": caption, **h}

    def save(self) -> None:
        rec = {"fingerprint": self.fingerprint, "figures": self.entries}
        atomic_write_bytes(self.directory / RECORD, json.dumps(rec, indent=1).encode())
