"""`elpagen leaderboard`: submission files ranked per class (:mod:`elpagen.leaderboard`)."""

from __future__ import annotations

import argparse
from typing import Any

from elpagen.cli.common import add_common, emit_json, log


def _local_check(args: argparse.Namespace, first: Any) -> tuple[str | None, str]:
    """This machine's reference fingerprint when its reference energies are cached (never
    built here), and a one-line note of what was checked."""
    from elpagen import data, leaderboard

    if first.reference.sigma is None:  # a table space's reference: no cached model to check
        return None, "not checked against this machine: the reference is a data table"
    try:
        train = data.load_training_set(args.data, verify=not args.no_verify)
    except data.DataError as e:
        return None, f"not checked against this machine: no DFT file ({str(e).splitlines()[0]})"
    local = leaderboard.local_fingerprint(train, first.reference.sigma, first.reference.lam,
                                          args.cache_dir)
    if local is None:
        return None, ("not checked against this machine: its reference energies are not "
                      "cached (`elpagen reference` builds them)")
    return local, "the same as this machine's cached reference energies"


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from elpagen import data, io, leaderboard

    target = data.check_class(args.target_class) if args.target_class is not None else None
    outputs = []
    if args.output:
        out_dir = io.check_output_dir(args.output, overwrite=True)
        names = ("leaderboard.md", "leaderboard.json", "leaderboard.html")
        out_dir.mkdir(parents=True, exist_ok=True)
        outputs = [io.check_output(out_dir / n, args.overwrite) for n in names]
    entries = leaderboard.load(args.paths)
    leaderboard.check_reference(entries)  # two files that differ: refused before any loading
    local, note = _local_check(args, entries[0][1])
    doc = leaderboard.build(entries, local=local, target_class=target, note=note)
    if local is None and not args.quiet:
        log(f"note: reference energies {note}")
    text = leaderboard.to_markdown(doc)
    if outputs:
        io.atomic_write_text(outputs[0], text + "\n")
        io.atomic_write_text(outputs[1], io.dumps(doc) + "\n")
        io.atomic_write_text(outputs[2], leaderboard.to_html(doc))
        if not args.quiet:
            log(f"wrote {', '.join(str(p) for p in outputs)}")
    if args.json:
        emit_json(doc)
    else:
        print(text)
    return 0


def add_meta_opt(p: argparse.ArgumentParser) -> None:
    """``--meta FILE`` of ``benchmark`` and ``frontier``: the submitter's metadata."""
    p.add_argument("--meta", metavar="FILE", default=None,
                   help="metadata for the submission files of -o (JSON, or TOML: authors, "
                        "paper_url, code_url, licence, training_data, date, version, "
                        "description, label; docs/leaderboard.md)")


def add_parsers(sub: Any) -> None:
    """Add this module's subcommand."""
    p = sub.add_parser("leaderboard",
                       help="rank submission files (benchmark/frontier -o) per class")
    add_common(p)
    p.add_argument("paths", nargs="+", metavar="FILE_OR_DIR",
                   help="submission files, or directories searched for submission_*.json")
    p.add_argument("--class", "-c", dest="target_class", type=int, metavar="C",
                   help="only class C (default: every class found)")
    p.add_argument("--json", action="store_true", help="print the leaderboard as JSON")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="also write DIR/leaderboard.md, .json and .html (with the plot)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files in DIR")
    p.set_defaults(func=cmd_leaderboard)
