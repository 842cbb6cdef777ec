"""`elpagen frontier`: each generator swept along its sampling knob, precision against
coverage (:mod:`elpagen.harness.frontier`)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from elpagen import catalogue
from elpagen.catalogue import Command
from elpagen.cli.common import (
    CLIError,
    add_common,
    add_mixture_opt,
    add_samples_opt,
    add_train_opts,
    default_samples_of,
    emit_json,
    load_reference,
    load_train,
    log,
    progress_log,
    run_config,
)
from elpagen.cli.leaderboard import add_meta_opt
from elpagen.harness.provenance import ReferenceProvenance


def cmd_frontier(args: argparse.Namespace) -> int:
    from elpagen import io, submission
    from elpagen.harness import frontier

    # -o DIR: the result, its plot, and one submission file per model (elpagen leaderboard).
    names = catalogue.check_models(args.models.split(","))  # plug-in paths: their names
    meta = submission.load_meta(args.meta) if args.meta else None
    config, outputs = run_config(args, ["frontier_class{c}.json", "frontier_class{c}.png",
                                        *(submission.file_name(m, frontier=True) for m in names)],
                                 grids=parse_grids(args.grid, args.models.split(",")))
    out_json, out_png = outputs[:2] if outputs else (None, None)
    train = load_train(args)
    ref, _ = load_reference(args, train)
    config = default_samples_of(args, config, train, ref)
    result = frontier.run_frontier(train, ref.classes, dataclasses.replace(config, progress=False),
                                   log=progress_log(args))
    if out_json:
        io.atomic_write_text(out_json, io.dumps(result))
        frontier.plot_frontier(result, out_png)
        provenance = ReferenceProvenance.of(ref).to_dict()
        for name, path in zip(config.models, outputs[2:], strict=True):
            submission.write(submission.from_frontier_result(
                result, name, reference_sha256=ref.fingerprint(), data_sha256=train.sha256,
                oracle=provenance, overrides=config.overrides_of(name), train=train,
                meta=meta), path)
        if not args.quiet:
            log(f"wrote {out_json}, {out_png} and {len(config.models)} submission file(s)")
    if args.json:
        emit_json(result)
    else:
        print(frontier.frontier_table(result))
    return 0


def parse_grids(pairs: list[str] | None, models: list[str]) -> dict[str, list[float]]:
    """``--grid MODEL=V1,V2,...`` (repeatable) as {model: values}; the values are checked
    against the model's knob where the run's config is made, before any work."""
    models = [m.strip() for m in models]
    out: dict[str, list[float]] = {}
    for pair in pairs or []:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or name not in models:
            raise CLIError(f"--grid expects MODEL=V1,V2,... for a model of --models, got {pair!r}")
        if any(not v.strip() for v in text.split(",")) and text.strip():
            raise CLIError(f"--grid {name}: an empty value in {text!r} (a doubled or trailing "
                           "comma?); give V1,V2,...")
        try:
            values = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise CLIError(f"--grid {name}: values must be numbers, got {text!r}") from None
        if not values:
            raise CLIError(f"--grid {name}: give at least one value")
        out[name] = values
    return out


def add_parsers(sub: Any) -> None:
    """Add this module's subcommand."""
    p = sub.add_parser("frontier",
                       help="sweep each model's sampling knob: precision-coverage frontiers")
    add_common(p)
    default = catalogue.help_list(catalogue.names(default_for=Command.FRONTIER))
    p.add_argument("--models", default=default,
                   help=f"comma-separated, from {catalogue.help_list()} (default {default})")
    p.add_argument("--target-class", "-c", type=int, default=1, help="class 1..10")
    add_samples_opt(p, "point")
    p.add_argument("--seeds", type=int, default=3, help="fits per model (default 3)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    add_mixture_opt(p)
    add_train_opts(p)
    p.add_argument("--grid", action="append", metavar="MODEL=V1,V2,...",
                   help="knob values of one model instead of its default grid (repeatable); "
                        "the fitted value is always added")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="write DIR/frontier_classC.json and DIR/frontier_classC.png")
    p.add_argument("--overwrite", action="store_true", help="replace an existing result")
    add_meta_opt(p)
    p.set_defaults(func=cmd_frontier)
