"""Does a run agree with the reference run shipped with elpagen? (`elpagen run --check`)

The torch models' fits are bitwise reproducible on one machine, but float kernels differ
between CPUs (AVX-512 or AVX2 code paths, another vendor's BLAS), and over thousands of
updates a last-bit difference acts like another seed: the same seeds give other numbers.
So a run on another machine is compared with the reference statistically, model by model:

* **Exact models** (:func:`is_exact`: random screening and the per-site marginals use
  no float kernel that differs between CPUs) must give every seed's every metric to
  :data:`EXACT_TOL`.
* **Every other model**, in precision and coverage (:data:`CHECKED`): the difference of
  the two runs' seed means must lie within ``K`` standard errors of a difference of two
  means of n seeds, ``|mean_run - mean_ref| <= K * s * sqrt(1/n_run + 1/n_ref)``, where
  ``s`` is the larger of the model's stored seed spread (pooled over the measured runs:
  6 degrees of freedom) and this run's seed standard deviation. The rule treats the move
  between CPUs as another draw of the seeds (docs/results.md, "Numbers that travel":
  measured, a change of kernels moves a seed by 0.1 to 1.1 seed spreads). With
  ``K = 4`` a run of the same code on another CPU fails one of the 12 comparisons about
  once in 40 runs (simulated under that model; less where the move is smaller than a
  seed's).

A run is compared only when its settings (class, samples, seeds, protocol, mixture,
settings) are the reference's; a model without a reference (a plug-in) is named, not
judged. The reference file is the JSON of ``elpagen run -o DIR`` plus, per model,
``exact`` and ``spread``; a plain ``benchmark_class<C>.json`` works too (the seed spread
is then its own).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from elpagen import catalogue
from elpagen.errors import InputError, printable
from elpagen.metric_specs import View, keys

#: Standard errors a model's seed mean may lie from the reference's (docs/results.md).
K = 4.0
#: The metrics compared statistically (the headline pair: more comparisons, more false alarms).
CHECKED = keys(View.AGREEMENT)
#: The metrics compared seed by seed for an exact model (the benchmark table's).
METRIC_KEYS = keys(View.BENCHMARK)
#: Largest difference of an exact model's metric (they are ratios of counts: equal or not).
EXACT_TOL = 1e-12
#: The settings that make two runs comparable, with how the verdict names them.
SETTINGS = {"target_class": "class", "samples": "samples", "seed_values": "seeds",
            "protocol": "protocol", "mixture": "mixture", "overrides": "settings"}
#: Exit code of ``elpagen run --check`` when the run does not agree (2 is a usage error,
#: 3 a bug).
EXIT_DISAGREES = 4
#: The reference run shipped with the package (package data).
SHIPPED = ("reference_runs", "run_class1_fast.json")
FORMAT = "elpagen.reference_run/1"


@dataclasses.dataclass(frozen=True)
class ModelReference:
    """One model of the reference run: its per-seed metrics, exactness and seed spread."""

    per_seed: tuple[Mapping[str, float], ...]
    exact: bool
    spread: Mapping[str, float]


@dataclasses.dataclass(frozen=True)
class ReferenceRun:
    """A reference run: settings, the machine it ran on, the models (not the reference
    energies: those are :class:`elpagen.reference.ReferenceEnergies`)."""

    settings: Mapping[str, Any]
    environment: Mapping[str, str]
    models: Mapping[str, ModelReference]
    source: str

    def machine(self) -> str:
        """CPU, ISA and torch of the reference run, for one line."""
        env = self.environment
        parts = [env.get("processor", "unknown CPU"), env.get("isa", ""),
                 f"torch {env['torch']}" if env.get("torch") else ""]
        return ", ".join(p for p in parts if p)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One model and metric (and seed, for an exact model): this run against the reference."""

    model: str
    metric: str
    run: float
    ref: float
    ok: bool
    exact: bool
    se: float = 0.0
    seed: int | None = None

    @property
    def z(self) -> float:
        """The difference in standard errors (inf for a difference with a zero error)."""
        d = abs(self.run - self.ref)
        return d / self.se if self.se > 0 else (0.0 if d <= EXACT_TOL else math.inf)

    def describe(self) -> str:
        """One line: what differs and by how much."""
        if self.exact:
            return (f"{self.model} {self.metric}, seed {self.seed}: {self.run:.6g} here vs "
                    f"{self.ref:.6g} in the reference run (an exact model: the same on every "
                    "CPU)")
        return (f"{self.model} {self.metric}: mean {self.run:.4f} here vs {self.ref:.4f} in "
                f"the reference run, {self.z:.1f} standard errors apart (tolerance {K:g})")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The comparison of a run with a reference run."""

    reference: ReferenceRun
    comparisons: tuple[Comparison, ...] = ()
    unreferenced: tuple[str, ...] = ()
    differing: tuple[str, ...] = ()
    #: "model metric" pairs not compared: the reference run lacks the metric (an older one).
    skipped: tuple[str, ...] = ()

    @property
    def compared(self) -> bool:
        """False when the settings differ: nothing was compared."""
        return not self.differing

    @property
    def agrees(self) -> bool:
        """Settings alike, something compared and every comparison within tolerance."""
        return self.compared and bool(self.comparisons) and all(c.ok for c in self.comparisons)

    def failures(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.ok]

    def line(self) -> str:
        """The one-line verdict printed after the table."""
        ref = f"the reference run ({self.reference.machine()})"
        if not self.compared:
            return (f"agreement: not checked: {ref} is "
                    f"{describe_settings(self.reference.settings)}; this run differs in "
                    f"{', '.join(self.differing)}")
        if not self.comparisons:
            why = [f"no reference for {', '.join(self.unreferenced)}"] if self.unreferenced \
                else []
            why += [f"not in the reference run: {', '.join(self.skipped)}"] if self.skipped \
                else []
            return (f"agreement: NOTHING compared with {ref}"
                    + (f" ({'; '.join(why)})" if why else " (no model run)"))
        models = list(dict.fromkeys(c.model for c in self.comparisons))
        some = (f"all {len(models)} models" if len(models) == len(self.reference.models)
                else f"the {len(models)} models run (of {len(self.reference.models)})")
        exact = [m for m in models if any(c.exact for c in self.comparisons if c.model == m)]
        extra = (f"; no reference for {', '.join(self.unreferenced)}"
                 if self.unreferenced else "")
        if self.skipped:
            extra += f"; not in the reference run, skipped: {', '.join(self.skipped)}"
        if self.agrees:
            how = f"within {K:g} standard errors in {' and '.join(CHECKED)}"
            if exact:
                how = f"{', '.join(exact)} exactly, the others {how}"
            return f"agreement: agrees with {ref} for {some} ({how}){extra}"
        bad = list(dict.fromkeys(f"{c.model} {c.metric}" for c in self.failures()))
        return (f"agreement: DOES NOT agree with {ref}: {', '.join(bad)} (tolerance: "
                f"{K:g} standard errors; exact models exactly){extra}")


def _seeds(seeds: Sequence[int]) -> str:
    seeds = list(seeds)
    if not seeds:
        return "none"
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 1:
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def is_exact(name: str) -> bool:
    """Whether a model's numbers are the same on every CPU: the built-in baselines (random
    screening, the per-site marginals) draw with numpy from counts, with no float kernel
    that differs between CPUs (measured: AMD EPYC vs Intel Xeon, AVX-512 vs AVX2)."""
    spec = catalogue.get(name) if name in catalogue.names() else None
    return bool(spec and spec.builtin and spec.kind == catalogue.Kind.BASELINE)


def describe_settings(settings: Mapping[str, Any]) -> str:
    """``class 1, 10,000 samples, seeds 0-2, fast protocol`` (and mixture, settings if set)."""
    text = (f"class {settings.get('target_class')}, {settings.get('samples', 0):,} samples, "
            f"seeds {_seeds(settings.get('seed_values', []))}, "
            f"{settings.get('protocol')} protocol")
    if settings.get("mixture", 1) != 1:
        text += f", mixture {settings['mixture']}"
    if settings.get("overrides"):
        text += f", settings {settings['overrides']}"
    return text


def settings_of(result: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
                ) -> dict[str, Any]:
    """The comparable settings of a benchmark result (``overrides``: the run's --set)."""
    return {"target_class": result["target_class"], "samples": result["samples"],
            "seed_values": list(result["seed_values"]), "protocol": result["protocol"],
            "mixture": result.get("mixture", 1),
            "overrides": dict(overrides if overrides is not None
                              else result.get("overrides", {}))}


def differing_settings(reference: ReferenceRun, settings: Mapping[str, Any]) -> list[str]:
    """The names of the settings in which a run differs from the reference, with values."""
    out = []
    for key, label in SETTINGS.items():
        mine, theirs = settings.get(key), reference.settings.get(key)
        if key == "seed_values":
            mine, theirs = list(mine or []), list(theirs or [])
        if mine != theirs:
            out.append(f"{label} ({_seeds(mine) if key == 'seed_values' else mine})")
    return out


def load_reference_run(path: str | Path | None = None) -> ReferenceRun:
    """The reference run in ``path`` (the shipped one by default): the format written by
    :func:`reference_document`, or a plain ``benchmark_class<C>.json`` of ``-o DIR``."""
    if path is None:
        ref = resources.files("elpagen").joinpath(*SHIPPED)
        text, source = ref.read_text(encoding="utf-8"), "shipped"
    else:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"reference run not found: {p}")
        text, source = p.read_text(encoding="utf-8"), str(p)
    try:
        doc = json.loads(text)
        _check_document(doc)
        models = {
            name: ModelReference(
                per_seed=tuple(m["per_seed"]),
                exact=bool(m.get("exact", is_exact(name))),
                spread=dict(m.get("spread") or _spread(m["per_seed"])))
            for name, m in doc["models"].items()
        }
        settings = settings_of(doc)
    except _Invalid as e:
        raise InputError(f"{printable(source)} is not a valid reference run: {e}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise InputError(f"{printable(source)} is not a reference run or benchmark result "
                         f"({type(e).__name__}: {printable(str(e))})") from None
    return ReferenceRun(settings=settings, environment=dict(doc.get("environment", {})),
                        models=models, source=source)


class _Invalid(ValueError):
    """A reference document that does not hold what :func:`compare` reads."""


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_document(doc: Any) -> None:
    """Everything :func:`compare` reads, checked when the file loads (before a benchmark
    runs): settings, and per model a per-seed list (one entry per seed of the settings)
    whose metrics are finite numbers, each in every seed or in none (an older run lacks
    some: they are skipped with a note); a spread of finite numbers. :class:`_Invalid`
    names the first fault by its JSON path."""
    def need(ok: bool, path: str, what: str) -> None:
        if not ok:
            raise _Invalid(f"{printable(path)} {what}")

    need(isinstance(doc, dict), "$", "is not a JSON object")
    seeds = doc.get("seed_values")
    need(isinstance(seeds, list) and bool(seeds) and all(
        isinstance(x, int) and not isinstance(x, bool) for x in seeds),
        "$.seed_values", "is not a list of integer seeds")
    for key in ("target_class", "samples"):
        need(isinstance(doc.get(key), int) and not isinstance(doc.get(key), bool),
             f"$.{key}", "is not an integer")
    need(isinstance(doc.get("protocol"), str), "$.protocol", "is not a text")
    models = doc.get("models")
    need(isinstance(models, dict) and bool(models), "$.models",
         "is not an object of models by name")
    for name, m in models.items():
        at = f"$.models.{name}"
        need(isinstance(m, dict), at, "is not an object")
        per_seed = m.get("per_seed")
        need(isinstance(per_seed, list) and all(isinstance(x, dict) for x in per_seed),
             f"{at}.per_seed", "is not a list of per-seed objects")
        need(len(per_seed) == len(seeds), f"{at}.per_seed",
             f"holds {len(per_seed)} seeds, not the {len(seeds)} of $.seed_values")
        for key in METRIC_KEYS:
            held = [key in x for x in per_seed]
            first = held.index(False) if not all(held) else 0
            need(all(held) or not any(held),  # none: an older run, skipped with a note
                 f"{at}.per_seed[{first}].{key}", "is missing")
            for i, x in enumerate(per_seed):
                need(key not in x or _number(x[key]), f"{at}.per_seed[{i}].{key}",
                     f"is {json.dumps(x.get(key))[:40]}, not a finite number")
        spread = m.get("spread")
        need(spread is None or isinstance(spread, dict), f"{at}.spread",
             "is not an object of metrics")
        for key, v in (spread or {}).items():
            need(_number(v) and v >= 0, f"{at}.spread.{key}",
                 f"is {json.dumps(v)[:40]}, not a non-negative number")
        need(isinstance(m.get("exact", False), bool), f"{at}.exact", "is not true or false")


def _spread(per_seed: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The seed standard deviation of every metric the seeds hold (an older run may lack
    one)."""
    return {k: _std([s[k] for s in per_seed]) for k in METRIC_KEYS
            if all(k in s for s in per_seed)}


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _std(values: Sequence[float]) -> float:
    """Sample standard deviation (ddof 1; 0 for fewer than two values)."""
    if len(values) < 2:
        return 0.0
    m = _mean(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (len(values) - 1))


def compare(result: Mapping[str, Any], reference: ReferenceRun,
            overrides: Mapping[str, Any] | None = None) -> Verdict:
    """This run (a benchmark result with per-seed metrics) against ``reference``."""
    differing = differing_settings(reference, settings_of(result, overrides))
    if differing:
        return Verdict(reference, differing=tuple(differing))
    out: list[Comparison] = []
    unreferenced, skipped = [], []
    for name, m in result["models"].items():
        ref = reference.models.get(name)
        if ref is None:
            unreferenced.append(name)
            continue
        run = list(m["per_seed"])
        checked = METRIC_KEYS if ref.exact else CHECKED
        lacking = [k for k in checked if not all(k in s for s in ref.per_seed)]
        skipped += [f"{name} {k}" for k in lacking]
        present = tuple(k for k in checked if k not in lacking)
        if ref.exact:
            out.extend(_compare_exact(name, run, ref, present))
        else:
            out.extend(_compare_means(name, run, ref, present))
    return Verdict(reference, tuple(out), tuple(unreferenced), skipped=tuple(skipped))


def _compare_exact(name: str, run: Sequence[Mapping[str, float]],
                   ref: ModelReference, metrics: Sequence[str] = METRIC_KEYS
                   ) -> list[Comparison]:
    """Every seed's every metric: equal to :data:`EXACT_TOL`; one comparison per metric
    (the first differing seed, else the first seed)."""
    out = []
    for key in metrics:
        pairs = [(a.get("seed"), float(a[key]), float(b[key]))
                 for a, b in zip(run, ref.per_seed, strict=True)]
        bad = [p for p in pairs if not abs(p[1] - p[2]) <= EXACT_TOL]
        seed, a, b = (bad or pairs)[0]
        out.append(Comparison(name, str(key), a, b, ok=not bad, exact=True, seed=seed))
    return out


def _compare_means(name: str, run: Sequence[Mapping[str, float]],
                   ref: ModelReference, metrics: Sequence[str] = CHECKED
                   ) -> list[Comparison]:
    out = []
    for key in metrics:
        a = [float(s[key]) for s in run]
        b = [float(s[key]) for s in ref.per_seed]
        spread = max(float(ref.spread.get(key, _std(b))), _std(a))
        se = spread * math.sqrt(1 / len(a) + 1 / len(b))
        ma, mb = _mean(a), _mean(b)
        d = abs(ma - mb)
        ok = d <= K * se if se > 0 else d <= EXACT_TOL
        out.append(Comparison(name, key, ma, mb, ok=ok, exact=False, se=se))
    return out


def reference_document(result: Mapping[str, Any], *, isa: str,
                       spread_runs: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The shipped file's content from a ``run -o DIR`` result: its per-seed metrics, the
    machine (``isa``: torch's CPU capability of the run), per model ``exact`` and
    ``spread`` (the seed standard deviation pooled over this run and ``spread_runs``, each
    ``{"label", "per_seed": {model: [...]}}`` or ``{"label", "n", "std": {model: {metric:
    std}}}`` for a run known only by its table)."""
    models = {}
    for name, m in result["models"].items():
        runs = [(len(m["per_seed"]), _spread(m["per_seed"]))]
        for other in spread_runs:
            if name in other.get("per_seed", {}):
                runs.append((len(other["per_seed"][name]), _spread(other["per_seed"][name])))
            elif name in other.get("std", {}):
                runs.append((int(other["n"]), dict(other["std"][name])))
        dof = sum(n - 1 for n, _ in runs)
        spread = {k: math.sqrt(math.fsum((n - 1) * s[k] ** 2 for n, s in runs) / dof)
                  if dof else 0.0 for k in METRIC_KEYS}
        exact = is_exact(name)
        models[name] = {
            "exact": exact, "spread": {k: 0.0 for k in METRIC_KEYS} if exact else spread,
            "spread_dof": 0 if exact else dof,
            **{k: v for k, v in m.items() if k != "per_seed"}, "per_seed": m["per_seed"],
        }
    head = {k: v for k, v in result.items() if k not in ("models", "environment")}
    return {"format": FORMAT, **head, "overrides": {},
            "environment": {**result["environment"], "isa": isa},
            "spread_runs": [{k: v for k, v in r.items()} for r in spread_runs],
            "models": models}


#: The old names (before the reference run and the reference energies had distinct ones).
Reference = ReferenceRun
load_reference = load_reference_run
