"""`elpagen frontier`: each generator swept along its sampling knob, precision against
coverage (:mod:`elpagen.frontier`)."""

from __future__ import annotations

import argparse
from typing import Any

from elpagen.cli.common import (
    CLIError,
    add_common,
    add_ensemble_opt,
    add_train_opts,
    check_sweep_args,
    emit_json,
    load_reference,
    load_train,
    log,
    model_overrides,
    parse_overrides,
)


def cmd_frontier(args: argparse.Namespace) -> int:
    from elpagen import frontier, io

    target, models, outputs = check_sweep_args(
        args, ["frontier_class{c}.json", "frontier_class{c}.png"])
    out_json, out_png = outputs if outputs else (None, None)
    grids = parse_grids(args.grid, models)
    overrides = parse_overrides(args.set, args.config)
    train = load_train(args)
    ref, _ = load_reference(args, train)
    result = frontier.run_frontier(
        train, ref.classes, models, target, args.samples,
        list(range(args.seed, args.seed + args.seeds)), protocol=args.protocol,
        overrides=model_overrides(models, overrides),
        grids=grids, device=args.device, progress=False, log=None if args.quiet else log,
        ensemble=args.ensemble,
    )
    if out_json:
        io.atomic_write_text(out_json, io.dumps(result))
        frontier.plot_frontier(result, out_png)
        if not args.quiet:
            log(f"wrote {out_json} and {out_png}")
    if args.json:
        emit_json(result)
    else:
        print(frontier.format_table(result))
    return 0


def parse_grids(pairs: list[str] | None, models: list[str]) -> dict[str, list[float]]:
    """``--grid MODEL=V1,V2,...`` (repeatable) as {model: values}; values are checked
    against the model's knob before any work."""
    from elpagen.registry import GENERATOR_CLASSES

    out: dict[str, list[float]] = {}
    for pair in pairs or []:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or name not in models:
            raise CLIError(f"--grid expects MODEL=V1,V2,... for a model of --models, got {pair!r}")
        try:
            values = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise CLIError(f"--grid {name}: values must be numbers, got {text!r}") from None
        if not values:
            raise CLIError(f"--grid {name}: give at least one value")
        out[name] = [GENERATOR_CLASSES[name].check_knob(v) for v in values]
    return out


def add_parsers(sub: Any) -> None:
    """Add this module's subcommand."""
    p = sub.add_parser("frontier",
                       help="sweep each model's sampling knob: precision-coverage frontiers")
    add_common(p)
    p.add_argument("--models", default="vae,gan,rl,marginal",
                   help="comma-separated: vae,gan,rl,ar,gfn,marginal,random "
                        "(default vae,gan,rl,marginal)")
    p.add_argument("--target-class", "-c", type=int, default=1, help="class 1..10")
    p.add_argument("--samples", "-n", type=int, default=10_000,
                   help="valid samples per point (default 10,000)")
    p.add_argument("--seeds", type=int, default=3, help="fits per model (default 3)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    add_ensemble_opt(p)
    add_train_opts(p)
    p.add_argument("--grid", action="append", metavar="MODEL=V1,V2,...",
                   help="knob values of one model instead of its default grid (repeatable); "
                        "the fitted value is always added")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="write DIR/frontier_classC.json and DIR/frontier_classC.png")
    p.add_argument("--overwrite", action="store_true", help="replace an existing result")
    p.set_defaults(func=cmd_frontier)
