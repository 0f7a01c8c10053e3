"""The training example's building blocks: the NNX mask estimator, the config, generated noise and
the classical baseline (the training loop itself is in test_train.py)."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxspec as js
from jaxspec import enhance
from jaxspec.enhance import noise
from jaxspec.enhance.train import features
from jaxspec.enhance.config import TrainConfig
from jaxspec.enhance.models import MaskDNN, make_model, n_features
from jaxspec.enhance.baseline import spectral_gate

TINY = TrainConfig(hidden=16, layers=2, context=1, n_fft=64, hop_length=16, model="dnn", feature_norm="utterance", augment=False, speaker_augment=False, reverb_prob=0.0, level_range=None)


@pytest.mark.parametrize("target,head_shape", [("irm", (257,)), ("psm", (257,)), ("ibm", (257,)), ("cirm", (2, 257))])
def test_forward_shapes_and_ranges(target, head_shape):
    cfg = TrainConfig(hidden=16, layers=2, target=target)
    model = make_model(cfg, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(0), (3, n_features(cfg), 7))
    y = nnx.jit(lambda m, v: m(v))(model, x)
    assert y.shape == (3,) + head_shape + (7,)
    assert y.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(y)))
    if target == "cirm":
        assert float(jnp.max(jnp.abs(y))) < 10.0
    else:
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    # frame-wise: any number of leading dims, and frames are independent
    assert nnx.eval_shape(lambda m, v: m(v), model, x[0]).shape == head_shape + (7,)
    np.testing.assert_allclose(nnx.jit(lambda m, v: m(v))(model, x[..., :3]), y[..., :3], atol=1e-5)


def test_model_rejects_bad_arguments():
    with pytest.raises(ValueError, match="head must be"):
        MaskDNN(4, 3, head="softmax", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="layers must be"):
        MaskDNN(4, 3, layers=0, rngs=nnx.Rngs(0))


SHIPPED_CONFIGS = os.path.join(os.path.dirname(enhance.__file__), "configs")


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(SHIPPED_CONFIGS) if f.endswith(".json")))
def test_shipped_configs_load_and_build(name):
    """Every config the README points to parses, and its model maps a mixture's features to a mask
    of the STFT's shape."""
    cfg = TrainConfig.from_json(os.path.join(SHIPPED_CONFIGS, name))
    model = make_model(cfg, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(0), (2, cfg.sr // 4)) * 0.1
    Y = js.stft(x, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
    out = nnx.jit(lambda m, Y: m(features(Y, cfg)))(model, Y)  # one compile, not hundreds of eager ops
    assert out.shape == (2,) + ((2,) if cfg.target == "cirm" else ()) + Y.shape[-2:]
    assert bool(jnp.all(jnp.isfinite(out)))


def test_config_json_round_trip_and_validation(tmp_path):
    cfg = TrainConfig(steps=7, target="psm", noise_kinds=("white", "hum"))
    p = str(tmp_path / "c.json")
    cfg.to_json(p)
    assert TrainConfig.from_json(p) == cfg
    with open(p) as f:
        d = json.load(f)
    d["stepz"] = 3
    with pytest.raises(ValueError, match="unknown key"):
        TrainConfig.from_dict(d)
    with pytest.raises(ValueError, match="target must be one of"):
        TrainConfig(target="mask")
    with pytest.raises(ValueError, match="loss must be one of"):
        TrainConfig(loss="l1")
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="snr_high"):
        TrainConfig(snr_low=10.0, snr_high=0.0)
    assert TrainConfig(segment_seconds=1.0).segment % TrainConfig().hop_length == 0


_bank = jax.jit(noise.noise_bank, static_argnames=("n", "samples", "sr", "kinds"))


def test_noise_bank_kinds_are_unit_rms_finite_and_keyed():
    speech = jax.random.normal(jax.random.key(9), (3000,)) * jnp.sin(jnp.arange(3000) / 50.0)
    a = _bank(jax.random.key(0), speech, n=8, samples=2000, sr=8000, kinds=noise.KINDS[:6])
    b = _bank(jax.random.key(0), speech, n=8, samples=2000, sr=8000, kinds=noise.KINDS[:6])
    c = _bank(jax.random.key(1), speech, n=8, samples=2000, sr=8000, kinds=noise.KINDS[:6])
    assert a.shape == (8, 2000) and bool(jnp.all(jnp.isfinite(a)))
    np.testing.assert_allclose(jnp.sqrt(jnp.mean(a * a, -1)), 1.0, rtol=1e-3)
    np.testing.assert_array_equal(a, b)  # same key, same bits
    assert float(jnp.max(jnp.abs(a - c))) > 0.1  # another key, another draw
    # spectral slopes: brown is darker than pink, pink darker than white (low/high band energy)
    P = jnp.abs(jnp.fft.rfft(a, axis=-1)) ** 2
    tilt = np.asarray(jnp.log10(P[:, 5:50].mean(-1) / P[:, 500:].mean(-1)))
    assert abs(tilt[0]) < 0.5 and tilt[2] > tilt[1] > tilt[0] + 0.5
    # hum: most energy at multiples of 50 or 60 Hz
    f = np.fft.rfftfreq(2000, 1 / 8000)
    hum_p = np.asarray(P[3])
    near = np.zeros_like(f, bool)
    for f0 in (50.0, 60.0):
        for k in range(1, 13):
            near |= np.abs(f - k * f0 * 1.0) < 8.0
    assert hum_p[near].sum() > 0.9 * hum_p.sum()
    # clatter: impulsive (heavy tails)
    x = np.asarray(a[4])
    assert np.mean(x ** 4) / np.mean(x ** 2) ** 2 > 6.0


def test_noise_bad_arguments():
    with pytest.raises(ValueError, match="kinds must be one of"):
        noise.noise_bank(jax.random.key(0), jnp.ones(10), n=2, samples=8, sr=8000, kinds=("rain",))
    with pytest.raises(ValueError, match="speech must be a 1-D"):
        noise.babble(jax.random.key(0), jnp.ones((2, 10)), (4,))


@jax.jit
def _gate_case(key):
    sr = 8000
    t = jnp.arange(sr) / sr
    tone = jnp.where((t > 0.3) & (t < 0.7), jnp.sin(2 * jnp.pi * 440 * t), 0.0)
    nz = 0.3 * noise.white(key, (sr,))
    Y = js.stft(tone + nz, n_fft=256, hop_length=64)
    mask, S = spectral_gate(Y)
    y = js.istft(S, n_fft=256, hop_length=64, length=sr)
    return mask, js.si_sdr(tone, y), js.si_sdr(tone, tone + nz)


def test_spectral_gate_attenuates_stationary_noise_and_stays_finite():
    mask, after, before = _gate_case(jax.random.key(0))
    assert mask.shape == (129, 126) and float(mask.min()) >= 0.1 - 1e-6 and float(mask.max()) <= 1.0
    assert float(after) > float(before) + 3.0
    # silent input and padding frames: finite
    m0, _ = spectral_gate(jnp.zeros((129, 10), jnp.complex64), valid=jnp.arange(10) < 6)
    assert bool(jnp.all(jnp.isfinite(m0)))
