"""The band / deep-filter model of the enhancement example (``BandDeepFilter``): shapes, causality,
streaming equal to one call, level invariance of its running normalisation, and the JAX contract
(jit, vmap, grad at silence, a batch-sharded mesh without collectives)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxspec as js
from jaxspec.enhance import input_pipeline as ip
from jaxspec.enhance.models import BandDeepFilter

SR, NF, HOP = 16000, 512, 256
KW = dict(n_fft=NF, hop_length=HOP)


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "floor_gate"])
def model(request):
    m = BandDeepFilter(sr=SR, n_fft=NF, hop_length=HOP, hidden=64, floor_gate=request.param, rngs=nnx.Rngs(0))
    if request.param:  # a gate that acts (an untrained one passes nearly everything): slope 1/dB, threshold 4 dB
        k = m.df_bins // 4
        m.gate_head.bias[...] = jnp.concatenate([jnp.full((k,), 0.5413), jnp.full((k,), 0.8673)])
    return m


@pytest.fixture(scope="module")
def fwd():
    return nnx.jit(lambda m, Y: m(Y))


@pytest.fixture(scope="module")
def Y():
    x = np.random.default_rng(0).standard_normal((2, SR)).astype(np.float32) * 0.1
    return js.stft(jnp.asarray(x), **KW)


def test_shapes_parameters_and_bad_arguments(model, fwd, Y):
    out = fwd(model, Y)
    assert out.shape == Y.shape and out.dtype == jnp.complex64 and bool(jnp.all(jnp.isfinite(out)))
    n = sum(x.size for x in jax.tree.leaves(nnx.state(BandDeepFilter(sr=SR, n_fft=NF, hop_length=HOP,
                                                                     rngs=nnx.Rngs(0)), nnx.Param)))
    assert 50_000 <= n <= 500_000, n  # the default size
    assert fwd(model, Y[0]).shape == Y.shape[1:]
    with pytest.raises(ValueError, match="df_bins"):
        BandDeepFilter(sr=SR, n_fft=NF, hop_length=HOP, df_bins=30, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="groups"):
        BandDeepFilter(sr=SR, n_fft=NF, hop_length=HOP, hidden=63, groups=2, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="257"):
        model(Y[..., :100, :])


def test_noise_floor_follows_its_recursion():
    """``floor_gate``'s per-bin floor against a plain loop: the bin's dB power smoothed with
    ``norm_alpha(FLOOR_TAU)`` from the first frame, then ``f[t] = min(x[t], f[t-1] + rise)``;
    the gap ``x - f`` and the states, in one call and from a state part-way."""
    from jaxspec import bands
    from jaxspec.enhance import models

    m = BandDeepFilter(sr=SR, n_fft=NF, hop_length=HOP, hidden=16, floor_gate=True, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(2)
    T = 90
    level = np.where(np.arange(T) % 40 < 20, 1.0, 30.0)  # speech-like bursts over a steady floor
    Yb = (rng.standard_normal((2, m.df_bins, T)) + 1j * rng.standard_normal((2, m.df_bins, T))) * level
    Yb = jnp.asarray(Yb, jnp.complex64)
    p = 10 * np.log10(np.maximum(np.abs(np.asarray(Yb, np.complex128)) ** 2, 1e-10))
    a = bands.norm_alpha(sr=SR, hop_length=HOP, tau=models.FLOOR_TAU)
    rise = models.FLOOR_RISE_DB_PER_S * HOP / SR
    x, f = np.empty_like(p), np.empty_like(p)
    for t in range(T):
        x[..., t] = p[..., 0] if t == 0 else a * x[..., t - 1] + (1 - a) * p[..., t]
        f[..., t] = x[..., 0] if t == 0 else np.minimum(x[..., t], f[..., t - 1] + rise)
    assert np.max(np.ptp(f[..., 30:], axis=-1)) < 15  # per bin the floor stays down through the 30 dB bursts
    c0 = m.initial_carry((2,))
    db = js.power_to_db(js.power(Yb), amin=1e-10, top_db=None)
    gap, floor, smooth = jax.jit(lambda d, c: m._floor(d, c, c["started"], None, None))(db, c0)
    np.testing.assert_allclose(np.asarray(gap), x - f, atol=2e-3)
    np.testing.assert_allclose(np.asarray(floor), f[..., -1], atol=2e-3)
    np.testing.assert_allclose(np.asarray(smooth), x[..., -1], atol=2e-3)
    c = dict(c0, started=jnp.ones((2,), bool), smooth=jnp.asarray(x[..., 49], jnp.float32),
             floor=jnp.asarray(f[..., 49], jnp.float32))
    gap2, floor2, _ = m._floor(db[..., 50:], c, c["started"], None, None)  # from the state after 50 frames
    np.testing.assert_allclose(np.asarray(gap2), (x - f)[..., 50:], atol=2e-3)
    np.testing.assert_allclose(np.asarray(floor2), f[..., -1], atol=2e-3)


def test_causal_and_streamed_blocks_equal_one_call(model, fwd, Y):
    out = fwd(model, Y)
    T = Y.shape[-1]
    changed = Y.at[..., 40:].set(0.0)  # the future changes: the past output does not
    np.testing.assert_allclose(np.asarray(fwd(model, changed)[..., :40]), np.asarray(out[..., :40]), atol=1e-6)
    carry, parts = model.initial_carry((2,)), []
    step = nnx.jit(lambda m, y, c: m.step(y, c))
    for a, b in ((0, 1), (1, 8), (8, 30), (30, T)):
        o, carry = step(model, Y[..., a:b], carry)
        parts.append(o)
    peak = float(jnp.abs(out).max())
    np.testing.assert_allclose(np.asarray(jnp.concatenate(parts, -1)), np.asarray(out), atol=1e-5 * peak)



def test_blocks_with_frames_that_are_not_real_carry_the_state_of_the_real_ones(model, fwd, Y):
    """``step(..., n_valid=k)``: the carry after a block of which only the first k frames are real
    (the rest garbage) is the carry after those k frames, for k = 0 (nothing changes, not even
    ``started``), a partial block and a whole one; what follows equals one call."""
    step = nnx.jit(lambda m, y, c, n: m.step(y, c, n_valid=n))
    plain = nnx.jit(lambda m, y, c: m.step(y, c))
    T = Y.shape[-1]
    garbage = jnp.asarray(np.random.default_rng(5).standard_normal(Y.shape[:-1] + (8,)) * (1 + 1j), jnp.complex64)
    c0 = model.initial_carry((2,))
    _, c = step(model, garbage, c0, 0)
    for k in c0:
        np.testing.assert_array_equal(np.asarray(c[k]), np.asarray(c0[k]), err_msg=k)
    parts, carry, t = [], c0, 0
    for k in (3, 8, 1, 5):  # blocks of 8 slots with k real frames
        block = jnp.concatenate([Y[..., t:t + k], garbage[..., k:]], axis=-1)
        o, carry = step(model, block, carry, k)
        parts.append(o[..., :k])
        t += k
    o, _ = plain(model, Y[..., t:], carry)
    out = fwd(model, Y)
    peak = float(jnp.abs(out).max())
    assert T > t
    np.testing.assert_allclose(np.asarray(jnp.concatenate(parts + [o], -1)), np.asarray(out), atol=1e-5 * peak)

def _si_sdr_db(ref, est):
    ref, est = np.asarray(ref, np.float64), np.asarray(est, np.float64)
    a = np.dot(est, ref) / np.dot(ref, ref)
    return 10 * np.log10(np.sum((a * ref) ** 2) / np.sum((est - a * ref) ** 2))


def test_running_normalisation_makes_level_and_trailing_silence_irrelevant(model, fwd):
    """A real unseen-speaker recording in pink noise at 0 dB: scaling the input by 0.1 or appending
    2 s of silence changes the SI-SDR of the model's output by < 0.1 dB."""
    from jaxspec.enhance import noise

    clip = ip.real_speech("unseen")[0]
    clean = np.asarray(js.load(clip["path"], sr=SR)[0], np.float32)
    clean = clean[: len(clean) // HOP * HOP]
    n = np.asarray(noise.pink(jax.random.key(3), (len(clean),)))
    n = n * np.sqrt(np.mean(clean ** 2) / np.mean(n ** 2))
    x = clean + n

    def run(sig):
        Yx = js.stft(jnp.asarray(sig), **KW)
        return np.asarray(js.istft(fwd(model, Yx), **KW, length=len(sig)))

    base = _si_sdr_db(clean, run(x))
    quiet = _si_sdr_db(clean, run(0.1 * x))
    pad = np.zeros(2 * SR, np.float32)
    longer = _si_sdr_db(np.concatenate([clean, pad]), run(np.concatenate([x, pad])))
    assert abs(quiet - base) < 0.1 and abs(longer - base) < 0.1, (base, quiet, longer)


def test_vmap_grad_and_silence(model, fwd, Y):
    batched = nnx.jit(nnx.vmap(lambda m, y: m(y), in_axes=(None, 0)))(model, Y)
    np.testing.assert_allclose(np.asarray(batched), np.asarray(fwd(model, Y)), atol=1e-5)

    def loss(m, Y, target):
        return jnp.mean(js.power(m(Y) - target))

    grad_fn = nnx.jit(nnx.value_and_grad(loss))
    for inp in (Y, jnp.zeros_like(Y)):  # speech and digital silence
        value, grads = grad_fn(model, inp, 0.5 * Y)
        leaves = jax.tree.leaves(grads)
        assert np.isfinite(float(value)) and all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
        if inp is Y:  # at silence every output is 0 whatever the weights: the gradient is 0, finite
            assert any(float(jnp.abs(g).max()) > 0 for g in leaves)
    assert bool(jnp.all(fwd(model, jnp.zeros_like(Y)) == 0))


SHARDED = textwrap.dedent(r"""
    import json, jax, jax.numpy as jnp, numpy as np
    from flax import nnx
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import jaxspec as js
    from jaxspec.enhance.models import BandDeepFilter
    assert jax.device_count() == 4
    m = BandDeepFilter(sr=16000, n_fft=512, hop_length=256, hidden=64, floor_gate=FLOOR_GATE, rngs=nnx.Rngs(0))
    x = np.random.default_rng(0).standard_normal((8, 8000)).astype(np.float32)
    Y = js.stft(jnp.asarray(x), n_fft=512, hop_length=256)
    mesh = Mesh(np.array(jax.devices()), ("batch",))
    sh = NamedSharding(mesh, P("batch"))
    Ys = jax.device_put(Y, sh)
    graph, state = nnx.split(m)
    f = jax.jit(lambda s, y: nnx.merge(graph, s)(y))
    hlo = f.lower(state, Ys).compile().as_text()
    out = f(state, Ys)
    ref = jax.jit(lambda s, y: nnx.merge(graph, s)(y))(state, Y)
    print(json.dumps({"collectives": sorted(set(k for k in ("all-gather", "all-reduce", "all-to-all",
                      "collective-permute", "reduce-scatter") if k in hlo)),
                      "sharding": str(out.sharding.spec), "same": out.sharding.is_equivalent_to(sh, out.ndim),
                      "err": float(jnp.abs(out - ref).max()), "peak": float(jnp.abs(ref).max())}))
""")


@pytest.mark.parametrize("floor_gate", [False, True])
def test_batch_sharded_mesh_without_collectives(floor_gate):
    # the suite's XLA flags (conftest) plus 4 host devices
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4".strip()
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-c", f"FLOOR_GATE = {floor_gate}\n" + SHARDED], env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    rec = json.loads(r.stdout.strip().splitlines()[-1])
    assert rec["collectives"] == [], rec
    assert rec["same"], rec
    assert rec["err"] <= 1e-5 * rec["peak"], rec


def test_band_config_trains_and_enhances():
    """model='band' through the example's own code: the config checks its pairing, 30 steps on one
    fixed batch lower the loss, and enhance_array (the path of `jaxspec enhance`) returns finite
    audio of the input's shape at another rate."""
    from jaxspec.enhance import evaluate, train
    from jaxspec.enhance.config import TrainConfig

    with pytest.raises(ValueError, match="feature_norm='running'"):
        TrainConfig(model="band")
    with pytest.raises(ValueError, match="feature_norm='running'"):
        TrainConfig(model="gru", feature_norm="running")
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(model="band", feature_norm="running", loss="mask")
    with pytest.raises(ValueError, match="stoi_weight"):
        TrainConfig(stoi_weight=-1.0)
    with pytest.raises(ValueError, match="stoi_weight"):
        TrainConfig(stoi_weight=1.0)  # the GRU's loss has no STOI term: not silently ignored
    with pytest.raises(ValueError, match="over_suppression"):
        TrainConfig(model="band", feature_norm="running", over_suppression=-0.5)
    with pytest.raises(ValueError, match="over_suppression"):
        TrainConfig(over_suppression=2.0)  # nor has it this penalty
    with pytest.raises(ValueError, match="floor_gate"):
        TrainConfig(floor_gate=True)
    with pytest.raises(TypeError, match="floor_gate"):
        TrainConfig(model="band", feature_norm="running", floor_gate=1)
    cfg = TrainConfig(steps=30, batch_size=4, segment_seconds=0.5, n_fft=256, hop_length=128, hidden=32, layers=1,
                      model="band", feature_norm="running", loss="sa", lr=1e-2, warmup_steps=1, augment=False,
                      speaker_augment=False, reverb_prob=0.0, level_range=None)
    model = train.make_model(cfg, rngs=nnx.Rngs(0))
    opt = train.make_optimizer(model, cfg)
    step = train.make_train_step(cfg)
    speech = ip.Corpus(ip.scan([c["path"] for c in ip.real_speech("train")[:8]])[0], sr=SR)
    clean = jnp.asarray(np.stack([speech.crop(np.random.default_rng(i), 8000) for i in range(4)]))
    noise = jnp.asarray(np.random.default_rng(9).standard_normal((4, 8000)).astype(np.float32))
    losses = [float(step(model, opt, clean, noise, jax.random.key(0))["loss"]) for _ in range(30)]
    assert all(np.isfinite(losses)) and np.mean(losses[-5:]) < 0.8 * np.mean(losses[:3]), losses
    # stoi_weight adds that multiple of 1 - STOI of the waveforms to the loss
    S = js.stft(clean, n_fft=256, hop_length=128)
    Y = js.stft(clean + 0.3 * noise, n_fft=256, hop_length=128)

    @jax.jit  # one program for the three (op by op, STOI alone compiles dozens)
    def losses(Y, S):
        s_hat = js.istft(0.7 * Y, n_fft=256, hop_length=128, length=8000)
        d = 1.0 - jnp.mean(js.stoi(js.istft(S, n_fft=256, hop_length=128, length=8000), s_hat, sr=SR))
        # the speech-removed penalty: compressed magnitude below the target's, at the mixture's RMS
        scale = 1.0 / jnp.sqrt(jnp.mean(js.power(Y), axis=(-2, -1), keepdims=True))
        m = (js.compress(js.magnitude(0.7 * Y * scale), power=train.SA_POWER)
             - js.compress(js.magnitude(S * scale), power=train.SA_POWER))
        return (train.band_loss(Y, S, 0.7 * Y, cfg, 8000), d,
                train.band_loss(Y, S, 0.7 * Y, cfg.replace(stoi_weight=0.5), 8000),
                train.band_loss(Y, S, 0.7 * Y, cfg.replace(over_suppression=3.0), 8000),
                jnp.mean(jnp.minimum(m, 0.0) ** 2))

    base, d, weighted, harsher, under = losses(Y, S)
    np.testing.assert_allclose(float(weighted), float(base + 0.5 * d), rtol=1e-5)
    assert float(under) > 1e-3 * float(base)  # the 0.7 mask removes speech: the penalty is not empty
    np.testing.assert_allclose(float(harsher), float(base + 2.0 * under), rtol=1e-5)
    assert 0.05 < float(d) < 0.95
    x = np.asarray(clean[:1]) + 0.1 * np.asarray(noise[:1])
    x22 = np.asarray(js.resample(x, orig_sr=SR, target_sr=22050))
    y = evaluate.enhance_array(model, x22, 22050, cfg)
    assert y.shape == x22.shape
    assert np.all(np.isfinite(y)) and np.abs(y).max() > 0
