"""Options, loading and output helpers shared by the command modules."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from elpagen import io
from elpagen.errors import UsageError
from elpagen.seeds import run_seeds

#: Exit codes: bad input (a UserError), a bug (any other exception), Ctrl-C.
EXIT_USAGE = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130

#: Characters of a --set value shown in a message; a longer one is cut with "...".
SHOWN_CHARS = 80

#: A user-facing error raised by the command layer itself: one line, exit code 2.
CLIError = UsageError


def log(msg: str) -> None:
    """Progress and status lines go to stderr (stdout is for results)."""
    print(msg, file=sys.stderr, flush=True)


def progress_log(args: argparse.Namespace) -> Callable[[str], None] | None:
    """Where a long run's progress lines go: stderr, or nowhere under ``-q``/``--json``."""
    return None if getattr(args, "quiet", False) or getattr(args, "json", False) else log


def clip(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text``, cut to ``limit`` characters with "..." when longer."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clip_set_values(msg: str, pairs: Sequence[str] | None) -> str:
    """``msg`` with every long ``--set`` pair, key or value it quotes cut (:func:`clip`):
    a 5,000-character value is not echoed in full."""
    parts = set()
    for pair in pairs or []:
        key, _, value = pair.partition("=")
        parts.update(x for x in (pair, key, value, key.strip(), value.strip())
                     if len(x) > SHOWN_CHARS)
    for part in sorted(parts, key=len, reverse=True):  # a pair before its key and value
        for form in (part, repr(part)[1:-1]):
            msg = msg.replace(form, clip(form))
    return msg


def emit_json(obj: Any) -> None:
    print(io.dumps(obj))


def cli_truth(args: argparse.Namespace):
    """The space of a command and where its data come from: ``--space NAME|FILE`` and
    ``--target`` where the command has them, else the default space's formation energies
    (:func:`elpagen.truth.resolve`)."""
    from elpagen import truth

    return truth.resolve(getattr(args, "space", None), getattr(args, "target", None))


def cli_space(args: argparse.Namespace):
    """The composition space of a command (``--space``, else the default)."""
    return cli_truth(args).space


def load_train(args: argparse.Namespace):
    """What the models see: the space's training set (``--train-size`` where given)."""
    from elpagen import truth

    return truth.training_set(cli_truth(args), args.data, verify=not args.no_verify,
                              size=getattr(args, "train_size", None))


def load_reference(args: argparse.Namespace, train, *, rebuild: bool = False):
    """The reference energies of the whole space (only the metrics see them)."""
    from elpagen import truth

    t0 = time.perf_counter()
    ref, loaded = truth.reference_energies(
        cli_truth(args), train, args.data, verify=not args.no_verify,
        cache_dir=args.cache_dir, rebuild=rebuild, progress=not args.quiet
    )
    if not args.quiet:
        how = "loaded from cache" if loaded else "built"
        log(f"reference energies {how} in {time.perf_counter() - t0:.1f} s")
    return ref, loaded


def parse_overrides(pairs: Sequence[str] | None, config_file: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if config_file:
        p = Path(config_file)
        if p.is_dir():
            raise CLIError(f"--config {p} is a directory; give a JSON file of settings")
        if not p.is_file():
            raise CLIError(f"config file not found: {p}")
        try:
            cfg = json.loads(p.read_text(encoding="utf-8-sig"))  # a BOM, as CSV files
        except UnicodeDecodeError:
            raise CLIError(f"config file {p} is not UTF-8 text (JSON expected)") from None
        except json.JSONDecodeError as e:
            raise CLIError(f"config file {p} is not JSON ({e.msg}, line {e.lineno})") from None
        if not isinstance(cfg, dict):
            raise CLIError(f"config file {p} must hold a JSON object of settings")
        # Accept both {"settings": {...}} (as written by `search --export-best`) and a flat object.
        out.update(cfg.get("settings", cfg))
    for pair in pairs or []:
        if "=" not in pair:
            raise CLIError(f"--set expects KEY=VALUE, got {clip(pair)!r}")
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out


#: Models fitted at once when ``--jobs`` is not given (a cluster job script, a test suite).
JOBS_ENV = "ELPAGEN_JOBS"


def resolve_jobs(jobs: int | None, n_models: int) -> int:
    """Models fitted at once: ``--jobs``, else ``$ELPAGEN_JOBS``, else one per available
    core (at most one per model)."""
    from elpagen import threads

    if jobs is None:
        raw = os.environ.get(JOBS_ENV, "").strip()
        if not raw:
            return max(1, min(n_models, threads.available_cores()))
        if not raw.isdigit() or int(raw) < 1:
            raise CLIError(f"{JOBS_ENV} must be a whole number of 1 or more, got {clip(raw)!r}; "
                           f"set it so, or unset it for one process per core")
        return int(raw)
    if jobs < 1:
        raise CLIError(f"--jobs must be 1 or more, got {jobs}")
    return jobs


def per_model_overrides(overrides: dict[str, Any], models: Sequence[str]
                        ) -> dict[str, dict[str, Any]]:
    """``--set``/``--config`` of a run as settings per model: ``MODEL.KEY=VALUE`` for one
    model, a plain ``KEY=VALUE`` for every torch model of the run (the baselines and the
    screening regressor keep theirs). A setting that reaches no model of the run is said
    in one warning line, not dropped in silence."""
    import warnings

    from elpagen import catalogue

    torch_models = [m for m in models if catalogue.get(m).ensemble]
    out: dict[str, dict[str, Any]] = {}
    ignored: list[str] = []
    for key, value in overrides.items():
        model, dot, setting = key.partition(".")
        if dot and setting:
            if model in models:
                out.setdefault(model, {})[setting] = value
            else:
                ignored.append(key)
        elif torch_models:
            for m in torch_models:
                out.setdefault(m, {})[key] = value
        else:
            ignored.append(key)
    if ignored:
        shown = ", ".join(_cut(k) for k in ignored[:3]) + (", ..." if len(ignored) > 3 else "")
        warnings.warn(f"{len(ignored)} setting(s) reach no model of this run and are ignored "
                      f"({shown}): use MODEL.KEY=VALUE with MODEL one of {', '.join(models)}",
                      stacklevel=2)
    return out


def _cut(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def run_config(args: argparse.Namespace, outputs: Sequence[str], **extra: Any):
    """The :class:`~elpagen.harness.config.RunConfig` of ``benchmark``, ``run`` and
    ``frontier`` from the command line (every argument checked there, before any work),
    and the output paths: ``outputs`` are file names with a ``{c}`` for the class, placed
    in ``-o DIR`` (none without ``-o``)."""
    from elpagen import catalogue, io
    from elpagen.harness.config import METHOD_SAMPLES, RunConfig, check_counts

    check_counts(args.seeds, args.mixture)
    models = catalogue.check_models(args.models.split(","))
    per_model = per_model_overrides(parse_overrides(args.set, args.config), models)
    # No --samples: the method's N until the reference gives the class size
    # (:func:`default_samples_of`, after loading).
    samples = args.samples if args.samples is not None else METHOD_SAMPLES
    config = RunConfig(
        models=tuple(models), target_class=args.target_class, samples=samples,
        seeds=run_seeds(args.seed, args.seeds),
        protocol=args.protocol, overrides=per_model, device=args.device,
        mixture=args.mixture, progress=not (args.quiet or getattr(args, "json", False)),
        timeout=getattr(args, "timeout", None),
        rarefaction_draws=getattr(args, "rarefaction_draws", None), **extra,
    )
    paths: list[Path] = []
    if args.output:
        from elpagen.models.plugins import check_submittable

        for m in models:  # a submission file names its model: a plug-in needs a name
            check_submittable(m, catalogue.get(m).cls)
        out_dir = io.check_output_dir(args.output, overwrite=True)  # the files are checked next
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = [io.check_output(out_dir / name.format(c=config.target_class), args.overwrite)
                 for name in outputs]
    return config, paths


def default_samples_of(args: argparse.Namespace, config, train, ref):
    """``config`` with the samples per fit of the run: ``--samples`` where given, else the
    rule of :func:`elpagen.harness.config.default_samples` for the training set's space
    and the size of the target class in the reference."""
    import dataclasses

    from elpagen.harness.config import default_samples

    if args.samples is not None:
        return config
    n_class = int(ref.class_sizes()[config.target_class - 1])
    return dataclasses.replace(config, samples=default_samples(train.space, n_class))


def add_samples_opt(p: argparse.ArgumentParser, per: str = "fit") -> None:
    """``--samples N`` of ``benchmark``, ``run`` and ``frontier`` (default: the rule), and
    ``--timeout S``, how long their sampling may stall."""
    p.add_argument("--samples", "-n", type=int, default=None,
                   help=f"valid samples per {per} (default: the method's 10,000 on the "
                        "elpasolite; on another space 2.5 x the target class's size, rounded "
                        "up to a multiple of 10, at least 100: docs/spaces.md)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="stop with an error when sampling brings no new valid composition "
                        "for S seconds, a propose that never returns included (default: no "
                        "limit; docs/limits.md)")
    p.add_argument("--rarefaction-draws", type=int, default=None, metavar="K",
                   help="valid draws of the rarefied expected metrics of a model without a "
                        "known distribution (vae, gan), drawn on a stream of their own "
                        "(default: 100 x the samples, at most 1,000,000; 0: none; "
                        "docs/method.md)")


def add_mixture_opt(p: argparse.ArgumentParser) -> None:
    """``--mixture K`` of ``benchmark`` and ``frontier`` (``--ensemble``: its old name)."""
    p.add_argument("--mixture", "--ensemble", dest="mixture", type=int, default=1, metavar="K",
                   help="sample each seed as a mixture of K fits "
                        "(seeds s*K ... s*K+K-1; default 1, a single fit)")


def add_space_opt(p: argparse.ArgumentParser) -> None:
    """``--space NAME|FILE`` (the elpasolite by default) and ``--target energy|stable``."""
    from elpagen import data, spaces

    p.add_argument("--space", metavar="NAME|FILE", default=None,
                   help=f"composition space: a built-in one ({', '.join(spaces.names())}; "
                        f"default {spaces.DEFAULT.name}) or a space file (TOML, docs/spaces.md)")
    p.add_argument("--target", choices=data.TARGETS, default="energy",
                   help="what the classes measure: energy (formation energy, ten equal-width "
                        "classes; default) or stable (a table's energy above the convex "
                        f"hull: class 1 is E_hull <= {data.STABLE_EHULL:g} eV/atom)")
    p.add_argument("--train-size", type=int, metavar="N", default=None,
                   help="compositions the models see: a seeded subset of the data (default: "
                        "the whole DFT file of the elpasolite; 1,000 of a table space)")


def add_common(p: argparse.ArgumentParser) -> None:
    add_space_opt(p)
    p.add_argument("--data", metavar="PATH",
                   help="the space's data file (default: $ELPAGEN_DATA for the elpasolite, "
                        "$ELPAGEN_PEROVSKITE_DATA for the perovskite, else the file "
                        "`elpagen data fetch` stored)")
    p.add_argument("--no-verify", action="store_true",
                   help="accept a DFT file other than the published one (no checksum check)")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="where reference energies are cached (default: user cache dir, "
                        "or $ELPAGEN_CACHE)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.add_argument("--threads", type=int, metavar="N", default=None,
                   help="CPU threads per process (default 1, or $ELPAGEN_THREADS; 0 = all "
                        "cores): one thread holds up best on a shared machine")


def add_train_opts(p: argparse.ArgumentParser) -> None:
    from elpagen.models.protocols import PROTOCOLS

    p.add_argument("--protocol", choices=PROTOCOLS, default="fast",
                   help="training protocol: published (paper) or CPU-friendly (fast)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one setting of the protocol (repeatable), e.g. --set steps=500")
    p.add_argument("--config", metavar="FILE", help="JSON file of settings to override")
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda (default auto)")
