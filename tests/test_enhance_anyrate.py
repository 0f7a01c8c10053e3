"""``jaxspec enhance`` on real-world inputs: trailing silence, other sample rates, the band above the
model's Nyquist, stereo, and the causal GRU with fixed feature statistics that makes the result
independent of what follows a frame.

The properties tested here belong to the enhancement path (features, padding, resampling, band
policy), not to a model's quality, so the model is a small untrained GRU whose feature statistics
were measured on mixtures (as training does before its first step); quality is measured by
``jaxspec demo``.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf
from flax import nnx

import jaxspec as js
from jaxspec.enhance import evaluate as ev
from jaxspec.enhance import input_pipeline as ip
from jaxspec.enhance import train
from jaxspec.enhance.config import TrainConfig
from jaxspec.enhance.models import MaskGRU, make_model, n_features

GRU = TrainConfig(model="gru", feature_norm="fixed", context=1, hidden=24, layers=2, n_fft=256, hop_length=128,
                  segment_seconds=0.5, batch_size=4, steps=2, noise_kinds=("white", "pink"), noise_clips=4,
                  noise_seconds=1.0, warmup_steps=1, log_every=1, checkpoint_every=2)
SR = GRU.sr


@pytest.fixture(scope="module")
def material():
    """A held-out sentence at 16 kHz, pink-ish noise at 0 dB, and the mixture."""
    x = np.asarray(js.load(ip.shipped_speech("heldout")[0], sr=SR)[0], np.float32)
    rng = np.random.default_rng(0)
    n = np.cumsum(rng.standard_normal(len(x))).astype(np.float32)
    n = np.diff(n, prepend=0.0) * 0.5 + 0.02 * n / (np.abs(n).max() + 1e-9)
    n = (n * np.sqrt(np.mean(x ** 2) / np.mean(n ** 2))).astype(np.float32)
    return x, x + n


@pytest.fixture(scope="module")
def model():
    m = make_model(GRU, rngs=nnx.Rngs(0))
    keys = jax.random.split(jax.random.key(1), 3)
    train.measure_features(m, GRU, (js.stft(jax.random.normal(k, (2, 8000)) * 0.1, n_fft=GRU.n_fft,
                                            hop_length=GRU.hop_length) for k in keys))
    return m


def _sdr(ref, est):
    return float(js.si_sdr(jnp.asarray(ref), jnp.asarray(est)))


def test_feature_statistics_are_measured_and_fixed(model):
    mean, var = np.asarray(model.norm.mean[...]), np.asarray(model.norm.variance[...])
    assert mean.shape == var.shape == (n_features(GRU), 1)
    assert np.all(np.isfinite(mean)) and np.all(var > 0) and np.ptp(mean) > 0
    # the statistics are variables, not parameters: the optimiser never sees them
    params = jax.tree.leaves(nnx.state(model, nnx.Param))
    assert not any(p.shape == mean.shape and np.array_equal(np.asarray(p), mean) for p in params)


def test_gru_is_causal(model):
    x = jax.random.normal(jax.random.key(0), (2, n_features(GRU), 20))
    y = nnx.jit(lambda m, v: m(v))(model, x)
    x2 = x.at[..., 12:].set(3.0 * jax.random.normal(jax.random.key(1), (2, n_features(GRU), 8)))
    y2 = nnx.jit(lambda m, v: m(v))(model, x2)
    np.testing.assert_allclose(y2[..., :12], y[..., :12], atol=1e-6)
    assert not np.allclose(y2[..., 12:], y[..., 12:], atol=1e-3)
    assert y.shape == (2, GRU.n_fft // 2 + 1, 20) and float(y.min()) >= 0 and float(y.max()) <= 1


def test_trailing_silence_does_not_change_the_speech_part(model, material):
    x, y = material
    e = ev.enhance_array(model, y[None], SR, GRU)[0]
    padded = np.concatenate([y, np.zeros(2 * SR, np.float32)])
    e2 = ev.enhance_array(model, padded[None], SR, GRU)[0]
    assert e2.shape == padded.shape
    assert abs(_sdr(x, e) - _sdr(x, e2[: len(x)])) < 0.1
    np.testing.assert_allclose(e2[: len(x)], e, atol=1e-4)


def test_per_utterance_features_do_depend_on_silence(material):
    """The property above is not automatic: with per-utterance normalisation the same audio followed
    by silence gets different features (which is why the example uses fixed statistics)."""
    _, y = material
    cfg = GRU.replace(feature_norm="utterance")
    f = lambda v: train.features(js.stft(jnp.asarray(v), n_fft=cfg.n_fft, hop_length=cfg.hop_length), cfg)  # noqa: E731
    a, b = f(y), f(np.concatenate([y, np.zeros(2 * SR, np.float32)]))
    assert float(jnp.max(jnp.abs(a[..., :-2] - b[..., : a.shape[-1] - 2]))) > 0.1


@pytest.mark.parametrize("sr", [44100, 48000])
def test_other_rates_match_16k_on_the_same_material(model, material, sr):
    x, y = material
    ref = _sdr(x, ev.enhance_array(model, y[None], SR, GRU)[0])
    up = lambda v: np.asarray(js.resample(v, orig_sr=SR, target_sr=sr))  # noqa: E731
    xr, yr = up(x), up(y)
    e = ev.enhance_array(model, yr[None], sr, GRU)[0]
    assert e.shape == yr.shape and np.all(np.isfinite(e))
    assert abs(_sdr(xr, e) - ref) < 0.5


def test_band_above_the_model_is_passed_through_at_the_mask_gain(model, material):
    """A 12 kHz tone in a 48 kHz file is invisible to a 16 kHz model: it comes back, attenuated by
    the model's mean high-band mask (in (0, 1]), not dropped."""
    sr = 48000
    _, y = material
    yr = np.asarray(js.resample(y, orig_sr=SR, target_sr=sr))
    t = np.arange(len(yr)) / sr
    tone = (0.05 * np.sin(2 * np.pi * 12000 * t)).astype(np.float32)
    e_with = ev.enhance_array(model, (yr + tone)[None], sr, GRU)[0]
    e_without = ev.enhance_array(model, yr[None], sr, GRU)[0]
    passed = e_with - e_without  # the tone's share of the output
    a = float(np.dot(passed, tone) / np.dot(tone, tone))  # its gain
    assert 0.05 < a <= 1.0 + 1e-3
    assert np.sum((passed - a * tone) ** 2) < 0.2 * np.sum((a * tone) ** 2)  # it is still the tone


def test_stereo_in_stereo_out(model, material, tmp_path):
    _, y = material
    both = np.stack([y, 0.5 * y[::-1].copy()])
    out = ev.enhance_array(model, both, SR, GRU)
    assert out.shape == both.shape
    np.testing.assert_allclose(out[0], ev.enhance_array(model, y[None], SR, GRU)[0], atol=1e-5)
    src, dst = str(tmp_path / "in.wav"), str(tmp_path / "out.wav")
    sf.write(src, (0.5 * both.T / np.abs(both).max()).astype(np.float32), 44100)
    info = ev.enhance_file(model, GRU, src, dst)
    z, sr2 = sf.read(dst)
    assert info["channels"] == 2 and sr2 == 44100 and z.shape == both.T.shape


def test_bucketed_lengths_compile_once(model, monkeypatch):
    """Files of different lengths within a bucket share one traced program."""
    traces = []
    real = ev.features
    monkeypatch.setattr(ev, "features", lambda Y, cfg: traces.append(Y.shape) or real(Y, cfg))
    ev._enhance_fn.cache_clear()
    rng = np.random.default_rng(1)
    for n in (9000, 17000, 30000, 40000):  # all within the first bucket (4 s at 16 kHz)
        ev.enhance_array(model, 0.1 * rng.standard_normal((1, n)).astype(np.float32), SR, GRU)
    assert len(traces) == 1
    ev.enhance_array(model, 0.1 * rng.standard_normal((1, 70000)).astype(np.float32), SR, GRU)
    assert len(traces) == 2
    ev._enhance_fn.cache_clear()


def test_config_rejects_bad_augmentation_fields():
    with pytest.raises(ValueError, match="reverb_prob"):
        TrainConfig(reverb_prob=1.5)
    with pytest.raises(ValueError, match="level_range"):
        TrainConfig(level_range=(-10.0, -40.0))
    with pytest.raises(TypeError, match="level_range"):
        TrainConfig(level_range="loud")
    with pytest.raises(ValueError, match="model must be one of"):
        TrainConfig(model="lstm")
    assert TrainConfig(level_range=[-40, -10]).level_range == (-40.0, -10.0)


def test_model_rejects_bad_arguments():
    with pytest.raises(ValueError, match="head must be"):
        MaskGRU(4, 3, head="softmax", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="layers must be"):
        MaskGRU(4, 3, layers=0, rngs=nnx.Rngs(0))


def test_gru_trains_with_augmentation_and_restores_its_statistics(tmp_path):
    """The default recipe in small: speaker, room and level augmentation, fixed statistics measured
    before the first step, saved in the checkpoint and restored by ``jaxspec enhance``'s loader."""
    cfg = GRU.replace(augment=True, speaker_augment=True, reverb_prob=0.5, level_range=(-40.0, -20.0), batch_size=8)
    wd = str(tmp_path / "w")
    res = train.run(cfg, wd, resume=False, log=lambda s: None, progress_stream=open(os.devnull, "w"))
    assert res["step"] == 2 and not res["skipped"] and all(np.isfinite(l) for _, l in res["losses"])
    mean = np.asarray(res["model"].norm.mean[...])
    assert np.ptp(mean) > 0  # measured, not the initial zeros
    model, cfg2, step = train.load(wd, log=lambda s: None)
    assert cfg2 == cfg and step == 2
    np.testing.assert_array_equal(np.asarray(model.norm.mean[...]), mean)
    np.testing.assert_array_equal(np.asarray(model.norm.variance[...]), np.asarray(res["model"].norm.variance[...]))
    x = 0.1 * np.random.default_rng(0).standard_normal((1, 9000)).astype(np.float32)
    np.testing.assert_array_equal(ev.enhance_array(model, x, SR, cfg), ev.enhance_array(res["model"], x, SR, cfg))


def test_augment_speaker_keeps_shape_and_changes_speech():
    cfg = GRU.replace(speaker_augment=True)
    clean = jnp.asarray(np.tile(np.sin(2 * np.pi * 200 * np.arange(4000) / SR), (8, 1)), jnp.float32)
    out = jax.jit(lambda k, c: train.augment_speaker(k, c, cfg))(jax.random.key(0), clean)
    assert out.shape == clean.shape and bool(jnp.all(jnp.isfinite(out)))
    # every row is changed (EQ), and the speed/pitch rows move the tone's frequency
    assert float(jnp.min(jnp.max(jnp.abs(out - clean), axis=-1))) > 1e-3
    peak = np.argmax(np.abs(np.fft.rfft(np.asarray(out)[:, 1000:3000], axis=-1)), axis=-1) * SR / 2000
    assert np.sum(np.abs(peak - 200) > 4) >= 2 and np.sum(np.abs(peak - 200) <= 4) >= 4
