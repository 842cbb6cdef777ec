"""The model directory: how a trained torch model is saved and loaded.

On disk a trained model is a directory with ``model.json`` (name, format version,
config, seeds, target class, data checksum, SHA-256 of the weights) and ``weights.pt``
(a plain tensor state dict, loaded with ``weights_only=True``; never a pickled object).
Format 2 added the weights checksum; format-1 directories (no checksum) still load, with
the finite-weights check as their only guard against a damaged file.

Saving is atomic (a temporary directory renamed into place); loading checks the manifest's
shape, the config's ranges, the weights' checksum and that every weight is finite, and
raises :class:`ModelLoadError` (a user error) for anything else.

The manifest records the composition space the model was trained in (``"space"``:
:meth:`~elpagen.space.CompositionSpace.to_dict`) and loading restores it, so a loaded model
samples in its own space; a directory saved before spaces were recorded loads in the
default space (the only space such a model can have been trained in).

This module names no model class (the models' base class imports it to save): what it
needs of a model is the :class:`TrainedModel` protocol.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from torch import nn

from elpagen.data import N_CLASSES
from elpagen.errors import InputError
from elpagen.settings import ConfigError, validate_config
from elpagen.space import CompositionSpace, SpaceError
from elpagen.version import __version__

#: Written by this version; 2 added ``weights_sha256``.
FORMAT_VERSION = 2
#: Model directory formats this version loads (format 1: no weights checksum).
READABLE_VERSIONS = (1, 2)
MANIFEST = "model.json"
WEIGHTS = "weights.pt"


class ModelLoadError(InputError):
    """A model directory that cannot be used (missing, other version, corrupted)."""


class TrainedModel(Protocol):
    """What saving and loading need of a model (the models' base class,
    :mod:`elpagen.models.base`, has it; described here so that this module imports no model)."""

    name: ClassVar[str]
    conditional: ClassVar[bool]
    Config: ClassVar[type]
    config: Any
    seeds: list[int]
    target_class: int | None
    data_sha256: str
    space: CompositionSpace | None
    nets: nn.ModuleDict | None
    device: torch.device

    def __init__(self, seed: Any, config: Any, *, device: str | None = ...) -> None: ...

    @property
    def k(self) -> int: ...

    def build_networks(self, k: int) -> dict[str, nn.Module]: ...

    def fitted_networks(self) -> nn.ModuleDict: ...


def default_space() -> CompositionSpace:
    """The space of a model directory that records none: saved before spaces were recorded,
    when the default space was the only one. (The one place in models/ that names a
    particular space: backward compatibility of old model directories.)"""
    from elpagen.spaces import DEFAULT

    return DEFAULT


def manifest_of(model: TrainedModel) -> dict[str, Any]:
    """The content of model.json, less the weights' checksum."""
    return {
        "format": "elpagen-model",
        "format_version": FORMAT_VERSION,
        "elpagen_version": __version__,
        "model": model.name,
        "config": dataclasses.asdict(model.config),
        "seeds": model.seeds,
        "target_class": model.target_class,
        "data_sha256": model.data_sha256,
        "space": model.space.to_dict() if model.space is not None else None,
        "torch_version": torch.__version__,
    }


def _dir_mode() -> int:
    """0777 minus the umask: what ``mkdir`` gives (mkdtemp would give 0700)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o777 & ~umask


def save_directory(
    model: TrainedModel, directory: str | os.PathLike, overwrite: bool = False
) -> Path:
    """Write model.json and weights.pt atomically (a temp dir renamed into place)."""
    nets = model.fitted_networks()
    out = Path(directory)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{out} exists and is not empty; choose another -o or pass --overwrite"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        os.chmod(tmp, _dir_mode())  # like any other output: follow the umask
        state = {k: v.detach().cpu() for k, v in nets.state_dict().items()}
        buf = io.BytesIO()
        torch.save(state, buf)
        weights = buf.getvalue()
        (tmp / WEIGHTS).write_bytes(weights)
        content = {**manifest_of(model), "weights_sha256": hashlib.sha256(weights).hexdigest()}
        (tmp / MANIFEST).write_text(json.dumps(content, indent=2))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def from_manifest(
    cls: type[TrainedModel], manifest: Mapping[str, Any], device: str | None = "auto"
) -> TrainedModel:
    """An unfitted ``cls`` with the config, seeds and target class of a checked manifest."""
    try:
        config = cls.Config(**{
            k: tuple(v) if isinstance(v, list) else v for k, v in manifest["config"].items()
        })
        validate_config(config)
    except TypeError as e:
        raise ModelLoadError(f"model config does not match this version: {e}") from None
    except ConfigError as e:
        raise ModelLoadError(f"model config is invalid ({e}); retrain the model") from None
    m = cls(manifest["seeds"], config, device=device)
    m.target_class = manifest.get("target_class")
    m.data_sha256 = manifest.get("data_sha256", "")
    recorded = manifest.get("space")
    try:
        m.space = default_space() if recorded is None else CompositionSpace.from_dict(recorded)
    except SpaceError as e:
        raise ModelLoadError(f"the recorded composition space is not usable ({e}); "
                             "retrain the model") from None
    return m


def check_manifest(manifest: Any, mf: Path) -> None:
    """A ModelLoadError unless model.json has the shape this version writes."""
    d = mf.parent

    def bad(what: str) -> ModelLoadError:
        return ModelLoadError(f"{mf} is damaged ({what}); retrain the model or restore {MANIFEST}")

    if not isinstance(manifest, dict):
        raise bad(f"a JSON {type(manifest).__name__}, not an object")
    version = manifest.get("format_version")
    if (manifest.get("format") != "elpagen-model" or type(version) is not int
            or version not in READABLE_VERSIONS):
        raise ModelLoadError(
            f"{d} was written by another elpagen version (format {version!r}, this version "
            f"reads {' and '.join(map(str, READABLE_VERSIONS))}); retrain it"
        )
    for key in ("model", "config", "seeds"):
        if key not in manifest:
            raise bad(f"no {key!r}")
    if not isinstance(manifest["config"], dict):
        raise bad("'config' is not an object")
    seeds = manifest["seeds"]
    if (not isinstance(seeds, list) or not seeds
            or not all(type(x) is int and x >= 0 for x in seeds)):
        raise bad(f"'seeds' is {seeds!r}, not a list of seeds")
    target = manifest.get("target_class")
    if target is not None and (type(target) is not int or not 1 <= target <= N_CLASSES):
        raise bad(f"'target_class' is {target!r}, not a class 1..{N_CLASSES}")
    if not isinstance(manifest.get("data_sha256", ""), str):
        raise bad("'data_sha256' is not a string")
    if not isinstance(manifest.get("space") or {}, dict):
        raise bad("'space' is not an object")
    if version >= 2:
        digest = manifest.get("weights_sha256")
        if not isinstance(digest, str) or len(digest) != 64:
            raise bad("no SHA-256 of the weights")


def load_directory(
    directory: str | os.PathLike,
    classes: Mapping[str, type[TrainedModel]],
    device: str | None = "auto",
) -> TrainedModel:
    """Load a saved model directory whose model is one of ``classes`` (name -> class).

    The weights must match the SHA-256 recorded in model.json (format 2) and be finite.
    Users call :func:`elpagen.catalogue.load_model`, which passes the catalogue's models.
    """
    d = Path(directory)
    mf = d / MANIFEST
    if not d.is_dir() or not mf.is_file():
        raise ModelLoadError(
            f"{d} is not a model directory (no {MANIFEST}); train one with `elpagen train`"
        )
    try:
        content = json.loads(mf.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelLoadError(f"{mf} is corrupted (not JSON); retrain the model") from None
    check_manifest(content, mf)
    name = content["model"]
    if not isinstance(name, str) or name not in classes:
        raise ModelLoadError(f"{d}: unknown model {name!r}")
    cls = classes[name]
    if not cls.conditional and content.get("target_class") is None:
        raise ModelLoadError(
            f"{mf} is damaged (a {name} model needs its 'target_class'); retrain the model"
        )
    try:
        model = from_manifest(cls, content, device=device)
    except ModelLoadError as e:
        raise ModelLoadError(f"{mf}: {e}") from None
    wf = d / WEIGHTS
    try:
        raw = wf.read_bytes()
    except FileNotFoundError:
        raise ModelLoadError(f"{d}: {WEIGHTS} is missing; retrain the model") from None
    except OSError as e:
        raise ModelLoadError(f"cannot read {wf}: {e.strerror or e}") from None
    expected = content.get("weights_sha256")
    if expected is not None and hashlib.sha256(raw).hexdigest() != expected.lower():
        raise ModelLoadError(
            f"{wf} is corrupted: its SHA-256 does not match the one in {MANIFEST} (the file "
            f"changed after training); retrain the model or restore {WEIGHTS} from a backup"
        )
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        nets = nn.ModuleDict(model.build_networks(model.k))
        nets.load_state_dict(state)
    except Exception as e:  # torch raises several types for damaged files
        raise ModelLoadError(
            f"{wf} is corrupted or does not match model.json "
            f"({type(e).__name__}); retrain the model"
        ) from None
    for key, t in state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ModelLoadError(
                f"{wf}: tensor {key} holds NaN or infinite values (a diverged training or "
                f"a damaged file); retrain the model or restore {WEIGHTS} from a backup"
            )
    model.nets = nets.to(model.device)
    return model
