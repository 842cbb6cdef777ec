"""Faults of issue 12: damaged weights, settings out of range, sample counts that cannot
fit in memory, a model.json of the wrong shape, and model directories that ignore the umask."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import one_line_error

from elpagen import catalogue, generator, memory
from elpagen.baselines import MarginalSampler, RandomScreening
from elpagen.catalogue import load_model
from elpagen.errors import InputError, UserError
from elpagen.models.dqn import DQNAgent
from elpagen.models.gan import ConditionalWGAN
from elpagen.models.persistence import ModelLoadError
from elpagen.models.vae import ConditionalVAE
from elpagen.settings import ConfigError, resolve_config
from elpagen.spaces import ELPASOLITE

TINY = dict(hidden=(16, 16), steps=20, batch_size=32, device="cpu")



@pytest.fixture(scope="module")
def vae(train) -> ConditionalVAE:
    return ConditionalVAE(seed=0, **TINY).fit(train)


@pytest.fixture
def model_dir(vae, tmp_path) -> Path:
    return vae.save(tmp_path / "vae")


def _no_sampling(monkeypatch) -> None:
    """Make any proposal fail loudly: the checks under test must come before sampling."""

    def refuse(*_args, **_kw):
        raise AssertionError("sampling started")

    for cls in (MarginalSampler, RandomScreening):
        monkeypatch.setattr(cls, "propose", refuse)


# -- 1. damaged weights --------------------------------------------------------------------


def test_damaged_weights_that_still_load_are_refused_by_their_checksum(
    vae, model_dir, tmp_path, capsys
):
    """Eight bytes overwritten inside a tensor: the file still unpickles, the checksum fails."""
    wf = model_dir / "weights.pt"
    raw = bytearray(wf.read_bytes())
    tensor = vae.nets.state_dict()["decoder.net.0.weight"].cpu().numpy().tobytes()
    at = raw.find(tensor)
    assert at > 0, "the tensor's bytes are stored as they are"
    raw[at + 64 : at + 72] = b"\x7f" * 8
    wf.write_bytes(bytes(raw))
    torch.load(wf, weights_only=True)  # still a loadable file
    out = tmp_path / "s.csv"
    one_line_error(capsys, "sample", str(model_dir), "-c", "1", "-n", "10", "-o", str(out),
                   match=("weights.pt is corrupted", "SHA-256", "retrain", "restore"))
    assert not out.exists()
    with pytest.raises(ModelLoadError, match="SHA-256"):
        load_model(model_dir)


def test_non_finite_weights_are_refused(vae, model_dir):
    """NaN weights with a matching checksum (a diverged fit, or a re-saved damaged file)."""
    state = {k: v.detach().cpu().clone() for k, v in vae.nets.state_dict().items()}
    state["decoder.net.0.bias"][0, 0, 3] = float("nan")
    torch.save(state, model_dir / "weights.pt")
    mf = model_dir / "model.json"
    manifest = json.loads(mf.read_text())
    manifest["weights_sha256"] = hashlib.sha256((model_dir / "weights.pt").read_bytes()).hexdigest()
    mf.write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="decoder.net.0.bias holds NaN or infinite"):
        load_model(model_dir)


def test_format_1_directories_without_a_checksum_still_load(vae, model_dir):
    mf = model_dir / "model.json"
    manifest = json.loads(mf.read_text())
    assert manifest["format_version"] == 2 and len(manifest["weights_sha256"]) == 64
    del manifest["weights_sha256"]
    manifest["format_version"] = 1
    mf.write_text(json.dumps(manifest))
    back = load_model(model_dir, device="cpu")
    a = vae.sample(500, 3, seed=1).codes
    assert np.array_equal(back.sample(500, 3, seed=1).codes, a)


class _Broken(generator.Generator):
    """Proposes nothing valid, like a model with damaged weights."""

    name = "broken"

    def __init__(self, limit: int = 20) -> None:
        self.calls, self.asked, self.limit = 0, 0, limit

    def fit(self, train, target_class=None):
        return self

    def propose(self, n, target_class, rng):
        self.calls += 1
        self.asked += n
        if self.calls > self.limit:
            raise AssertionError(f"still sampling after {self.limit} empty rounds")
        return np.full(n, -1, dtype=np.int64)


@pytest.mark.parametrize("n", [1, 10_000])
def test_sampling_stops_after_rounds_without_a_valid_proposal(n):
    g = _Broken(limit=2000 if n == 1 else 20)  # rounds of ~1,000 or of 4M proposals
    with pytest.raises(generator.SamplingError, match="no valid composition in the last"):
        g.sample(n, 1, space=ELPASOLITE)
    assert g.asked >= generator.EMPTY_PROPOSALS
    assert g.asked <= generator.EMPTY_PROPOSALS + 2 * memory.MAX_ROUND
    if n == 10_000:  # rounds of 4M proposals: the bound on rounds stops it
        assert g.calls == generator.EMPTY_ROUNDS


def test_a_rare_valid_proposal_resets_the_empty_run():
    """A valid fraction of 1e-4 is poor but not broken: sampling goes on and succeeds."""

    class Rare(_Broken):
        def propose(self, n, target_class, rng):
            out = super().propose(n, target_class, rng)
            out[rng.random(n) < 1e-4] = 1602  # HHeLi2Be6, a composition
            return out

    s = Rare(limit=2000).sample(50, 1, seed=0, space=ELPASOLITE)
    assert s.n_valid == 50


# -- 2. settings out of range ----------------------------------------------------------------


@pytest.mark.parametrize(("setting", "allowed"), [
    ("steps=-5", "an integer >= 1"), ("steps=0", "an integer >= 1"),
    ("batch_size=0", "an integer in [1, 1,048,576]")])
def test_train_refuses_settings_out_of_range(setting, allowed, tmp_path, capsys):
    key, value = setting.split("=")
    out = tmp_path / "m"
    one_line_error(capsys, "train", "vae", "--set", setting, "-o", str(out),
                   match=(f"{key}={int(value)}", allowed))
    assert not out.exists()


def test_settings_from_a_config_file_are_checked_too(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"settings": {"lr": -0.001}}))
    one_line_error(capsys, "train", "gan", "--config", str(cfg), "-o", str(tmp_path / "m"),
                   match=("lr=-0.001", "> 0"))


@pytest.mark.parametrize(("model", "key", "value", "allowed"), [
    ("vae", "lr", "0", "> 0"),
    ("vae", "kl_weight", "-1", ">= 0"),
    ("vae", "latent", "0", "in [1, 16,384]"),
    ("vae", "hidden", "", "layer widths in [1, 16,384]"),
    ("vae", "hidden", "64,0", "layer widths in [1, 16,384]"),
    ("gan", "beta1", "1", "[0, 1)"),
    ("gan", "critic_steps", "0", ">= 1"),
    ("gan", "lr", "inf", "> 0"),
    ("rl", "gamma", "1.5", "[0, 1]"),
    ("rl", "target_sync", "0", ">= 1"),
    ("rl", "beta", "-1", ">= 0"),
    ("rl", "lr", "nan", "> 0"),
])
@pytest.mark.parametrize("protocol", ["fast", "paper"])
def test_every_setting_has_a_range(model, key, value, allowed, protocol):
    cls = catalogue.get(model).cls
    with pytest.raises(ConfigError, match="invalid setting") as e:
        resolve_config(cls.Config, cls.PROTOCOLS, protocol, {key: value})
    assert key in str(e.value) and allowed in str(e.value)


def test_presets_and_library_configs_are_validated():
    for cls in (s.cls for s in catalogue.specs() if s.ensemble):
        for protocol in cls.PROTOCOLS:
            resolve_config(cls.Config, cls.PROTOCOLS, protocol)  # the presets are in range
    with pytest.raises(ConfigError, match="steps=0"):
        ConditionalVAE(0, steps=0)
    with pytest.raises(ConfigError, match="batch_size=0"):
        ConditionalWGAN(0, ConditionalWGAN.PROTOCOLS["fast"], batch_size=0)
    with pytest.raises(ConfigError, match="steps=-1"):
        DQNAgent.Config(steps=-1)
    with pytest.raises(ConfigError, match="must be an integer"):
        ConditionalVAE.Config(steps=2.5)
    assert ConditionalVAE.Config(hidden=[8, 8], lr=1).hidden == (8, 8)  # normalised


def test_a_saved_config_out_of_range_is_a_load_error(model_dir):
    mf = model_dir / "model.json"
    manifest = json.loads(mf.read_text())
    manifest["config"]["batch_size"] = 0
    mf.write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="batch_size=0"):
        load_model(model_dir)


# -- 4 (item 4). unbounded sample counts ---------------------------------------------------------


def test_available_memory_is_known_here():
    avail = memory.available_memory()
    assert avail is None or avail > 0
    if Path("/proc/meminfo").is_file():
        assert avail is not None


def test_sample_refuses_a_count_that_cannot_fit(tmp_path, capsys, monkeypatch):
    _no_sampling(monkeypatch)
    out = tmp_path / "h.csv"
    line = one_line_error(capsys, "sample", "marginal", "-c", "1", "-n", "1000000000000",
                          "-o", str(out), match=("-n 1,000,000,000,000", "memory", "fewer"))
    assert "TiB" in line and "available" in line
    assert not out.exists()


def test_the_limit_is_the_available_memory(tmp_path, capsys, monkeypatch):
    _no_sampling(monkeypatch)
    monkeypatch.setattr(memory, "available_memory", lambda: 1 << 30)
    one_line_error(capsys, "sample", "random", "-c", "1", "-n", "100000000",
                   "-o", str(tmp_path / "h.csv"), match=("more than the 1.0 GiB available",))


def test_library_sample_refuses_a_count_that_cannot_fit(monkeypatch):
    _no_sampling(monkeypatch)
    with pytest.raises(InputError, match="drawing 1,000,000,000,000 samples needs about"):
        RandomScreening(space=ELPASOLITE).sample(10**12, 1)


def test_running_out_of_memory_while_sampling_is_one_line(tmp_path, capsys, monkeypatch):
    def oom(*_args, **_kw):
        raise MemoryError("Unable to allocate 7.28 TiB for an array with shape (10**12,)")

    monkeypatch.setattr(MarginalSampler, "propose", oom)
    one_line_error(capsys, "sample", "-q", "marginal", "-c", "1", "-n", "100",
                   "-o", str(tmp_path / "h.csv"), match=("out of memory", "fewer"))
    monkeypatch.setattr(RandomScreening, "propose", oom)
    with pytest.raises(MemoryError, match="out of memory") as e:
        RandomScreening(space=ELPASOLITE).sample(100, 1)
    assert isinstance(e.value, UserError)


# -- 5 (item 5). model.json of the wrong shape ----------------------------------------------------


def _edit(manifest: dict) -> list:
    return [
        [1, 2],
        "a string",
        {k: v for k, v in manifest.items() if k != "seeds"},
        {k: v for k, v in manifest.items() if k != "config"},
        {k: v for k, v in manifest.items() if k != "model"},
        {**manifest, "seeds": "abc"},
        {**manifest, "seeds": []},
        {**manifest, "config": 5},
        {**manifest, "config": {**manifest["config"], "hidden": "x"}},
        {**manifest, "target_class": "x"},
        {**manifest, "model": [1]},
        {**manifest, "format_version": True},
        {**manifest, "data_sha256": 7},
        {**manifest, "weights_sha256": None},
    ]


@pytest.mark.parametrize("case", range(14))
def test_a_model_json_of_the_wrong_shape_is_one_line(case, model_dir, tmp_path, capsys):
    mf = model_dir / "model.json"
    bad = _edit(json.loads(mf.read_text()))[case]
    mf.write_text(json.dumps(bad))
    with pytest.raises(ModelLoadError):
        load_model(model_dir)
    one_line_error(capsys, "sample", str(model_dir), "-c", "1", "-n", "10",
                   "-o", str(tmp_path / "s.csv"), match=str(model_dir))


# -- 6 (item 11). model directories follow the umask ----------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_model_directories_follow_the_umask(vae, tmp_path, umask):
    old = os.umask(umask)
    try:
        d = vae.save(tmp_path / "deep" / "vae")
    finally:
        os.umask(old)
    assert stat.S_IMODE(d.stat().st_mode) == 0o777 & ~umask
    for f in d.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask, f
