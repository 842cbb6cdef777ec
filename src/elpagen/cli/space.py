"""``elpagen space show NAME|FILE``: a composition space's size, sites, classes and reference."""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from elpagen.cli.common import emit_json, log
from elpagen.data import TARGETS, class_label


def space_summary(name: str | None, data: str | None, verify: bool,
                  cache_dir: str | None, progress: bool,
                  target: str | None = None) -> dict[str, Any]:
    """What ``space show`` prints, as JSON data: the space, its data, classes (of
    ``target``: ``energy`` or ``stable``) and reference."""
    from elpagen import truth

    t = truth.resolve(name, target)
    sp = t.space
    out: dict[str, Any] = {
        "name": sp.name, "formula": sp.formula_pattern, "source": t.source,
        "n_compositions": sp.n_space, "n_grid": sp.n_grid,
        "sites": [{"name": s.name, "multiplicity": s.multiplicity, "n_elements": s.size,
                   "elements": list(s.elements)} for s in sp.sites],
        "fixed": sp.fixed, "distinct": sp.distinct,
        "symmetries": [list(p) for p in sp.symmetries], "numbering": sp.numbering,
        "fingerprint": sp.fingerprint, "reference_kind": t.reference,
    }
    t0 = time.perf_counter()
    train = truth.training_set(t, data, verify=verify)
    ref, loaded = truth.reference_energies(t, train, data, verify=verify, cache_dir=cache_dir,
                                           progress=progress)
    ec = train.energy_classes
    out.update({
        "n_train": len(train), "data_sha256": train.sha256,
        "n_with_reference": int(np.count_nonzero(ref.valid)),
        "classes": {"target": t.target, "threshold": ec.threshold,
                    "lo": ec.lo, "hi": ec.hi, "width": ec.width,
                    "sizes": ref.class_sizes().tolist(),
                    "train_sizes": train.class_counts().tolist()},
        "reference": {"kind": t.reference, "holdout_mae": ref.holdout_mae,
                      "from_cache": loaded, "seconds": time.perf_counter() - t0},
    })
    return out


def _print(s: dict[str, Any]) -> None:
    print(f"space {s['name']} ({s['formula']}; {s['source']}): {s['n_compositions']:,} "
          f"compositions on a grid of {s['n_grid']:,}")
    for site in s["sites"]:
        els = site["elements"]
        shown = ", ".join(els) if len(els) <= 12 else ", ".join(els[:10]) + f", ... {els[-1]}"
        print(f"  site {site['name']} (x{site['multiplicity']}): {site['n_elements']} "
              f"elements: {shown}")
    rule = "all sites different" if s["distinct"] else "an element may repeat"
    sym = ", ".join(str(p) for p in s["symmetries"]) or "none"
    print(f"  fixed part: {s['fixed'] or 'none'}; rule: {rule}; symmetries: {sym}; "
          f"groups numbered {s['numbering']}")
    c = s["classes"]
    print(f"  data: {s['n_train']:,} training compositions (sha256 {s['data_sha256'][:12]}...); "
          f"reference values for {s['n_with_reference']:,} compositions")
    sizes = ", ".join(f"{n:,}" for n in c["sizes"])
    if c.get("threshold") is not None:  # the stable target
        print(f"  classes (target stable, energy above the hull): class 1 "
              f"{class_label('stable', 1)}, then 9 of width {c['width']:.4f} eV/atom over "
              f"({c['threshold']:.3f}, {c['hi']:.3f}]; sizes {sizes}")
    else:
        print(f"  classes: 10 of width {c['width']:.4f} eV/atom over [{c['lo']:.3f}, "
              f"{c['hi']:.3f}]; sizes {sizes}")
    r = s["reference"]
    how = ("the table itself (DFT values, no model)" if r["kind"] == "table"
           else f"kernel ridge fitted on the data, held-out MAE {r['holdout_mae']:.4f} eV/atom")
    print(f"  reference: {how}")


def cmd_space(args: argparse.Namespace) -> int:
    s = space_summary(args.name, args.data, not args.no_verify, args.cache_dir,
                      progress=not (args.quiet or args.json), target=args.target)
    if args.json:
        emit_json(s)
    else:
        _print(s)
    if not (args.quiet or args.json):
        log(f"done in {s['reference']['seconds']:.1f} s")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("space", help="show a composition space: size, sites, classes, reference",
                       description="Show a built-in composition space or one defined in a "
                                   "space file (TOML, docs/spaces.md): its size, sites, energy "
                                   "classes and how its reference energies are made.")
    p.add_argument("action", choices=["show"], help="what to do (show)")
    p.add_argument("name", metavar="NAME|FILE", nargs="?", default=None,
                   help="a built-in space (elpasolite, perovskite) or a space file")
    p.add_argument("--data", metavar="PATH", help="the space's data file (default: see --help "
                                                  "of any command)")
    p.add_argument("--no-verify", action="store_true",
                   help="accept a data file other than the published one")
    p.add_argument("--cache-dir", metavar="DIR", help="where reference energies are cached")
    p.add_argument("--target", choices=TARGETS, default="energy",
                   help="the classes shown: energy (formation energy) or stable (a table's "
                        "energy above the convex hull)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_space)
