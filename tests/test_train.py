"""The training loop: one jitted step on raw waveforms, the run loop with checkpoints, resume and
determinism, the NaN stop, and data parallelism over 4 (virtual) devices matching 1 device."""

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

from jaxspec import train
from jaxspec.config import TrainConfig

# Tiny shapes: 0.25 s crops, a 32-unit DNN, two cheap noise kinds (test_model.py covers all of them).
# The tests reuse these configs so the step compiles once per config (make_train_step is cached).
TINY = TrainConfig(steps=4, batch_size=4, segment_seconds=0.25, n_fft=256, hop_length=64, context=1, hidden=32,
                   layers=1, noise_clips=4, noise_seconds=0.5, noise_kinds=("white", "pink"), warmup_steps=1, log_every=2,
                   checkpoint_every=2)
FIT = TINY.replace(steps=30, lr=1e-2, warmup_steps=1, loss="sa")


def _params(model):
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param))]


def _raw(cfg, n=4, seed=0):
    rng = np.random.default_rng(seed)
    speech = train.load_corpus("train", sr=cfg.sr)[:8]
    bank = train.clip_bank(speech)
    t = np.arange(8000) / cfg.sr
    noise = (0.5 * rng.standard_normal((n, 8000)) + np.sin(2 * np.pi * 120 * t)).astype(np.float32)
    return jnp.asarray(bank[:n]), jnp.asarray(noise)


def test_loss_decreases_over_30_steps():
    model = train.make_model(FIT, rngs=nnx.Rngs(0))
    opt = train.make_optimizer(model, FIT)
    step = train.make_train_step(FIT)
    clean, noise = _raw(FIT)
    key = jax.random.key(0)  # one fixed batch: the same crops and SNRs every step
    losses = [float(step(model, opt, clean, noise, key)["loss"]) for _ in range(30)]
    assert all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses


@pytest.mark.parametrize("target,loss,augment", [("cirm", "mask", False), ("psm", "sisdr", True)])
def test_other_targets_losses_and_augmentation_take_finite_steps(target, loss, augment):
    cfg = TINY.replace(target=target, loss=loss, augment=augment)
    model = train.make_model(cfg, rngs=nnx.Rngs(0))
    opt = train.make_optimizer(model, cfg)
    m = train.make_train_step(cfg)(model, opt, *_raw(cfg), jax.random.key(0))
    assert np.isfinite(float(m["loss"])) and np.isfinite(float(m["grad_norm"]))


def test_run_checkpoint_resume_and_determinism(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    ra = train.run(TINY, a, log=lambda s: None)  # 4 steps, checkpoints at 2 and 4
    assert ra["step"] == 4 and len(ra["losses"]) == 4 and all(np.isfinite(l) for _, l in ra["losses"])
    ck = os.path.join(a, "checkpoint")
    assert sorted(os.listdir(ck)) == ["config.json", "meta.json", "state.msgpack"]
    assert TrainConfig.from_json(os.path.join(ck, "config.json")) == TINY
    # the same run in two sittings (stop at 2, resume to 4) ends with identical parameters
    train.run(TINY, b, until=2, log=lambda s: None)
    with open(os.path.join(b, "checkpoint", "meta.json")) as f:
        assert json.load(f)["step"] == 2
    rb = train.run(TINY, b, log=lambda s: None)
    assert rb["step"] == 4
    for x, y in zip(_params(ra["model"]), _params(rb["model"])):
        np.testing.assert_array_equal(x, y)
    # a different config in the same workdir is refused rather than silently mixed
    with pytest.raises(ValueError, match="different config"):
        train.run(TINY.replace(lr=1e-2), b, log=lambda s: None)


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    cfg = TINY
    model = train.make_model(cfg, rngs=nnx.Rngs(3))
    opt = train.make_optimizer(model, cfg)
    train.make_train_step(cfg)(model, opt, *_raw(cfg), jax.random.key(1))  # non-trivial optimiser state
    train.save_checkpoint(str(tmp_path), model, opt, cfg, 1)
    model2, opt2, cfg2, step = train.load_checkpoint(str(tmp_path), with_optimizer=True)
    assert cfg2 == cfg and step == 1
    x = jax.random.normal(jax.random.key(0), (2, 2000)) * 0.1
    enhance = nnx.jit(lambda m, v: train.enhance_waveform(m, v, cfg))
    y1, m1 = enhance(model, x)
    y2, m2 = enhance(model2, x)
    np.testing.assert_array_equal(np.asarray(y1), np.asarray(y2))
    np.testing.assert_array_equal(np.asarray(m1), np.asarray(m2))
    for u, v in zip(jax.tree.leaves(nnx.state(opt)), jax.tree.leaves(nnx.state(opt2))):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    with open(os.path.join(tmp_path, "checkpoint", "state.msgpack"), "rb") as f:
        assert b"pickle" not in f.read(64)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train.load_checkpoint(str(tmp_path / "nowhere"))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    wd = str(tmp_path / "w")
    train.run(TINY, wd, until=2, log=lambda s: None)  # a good checkpoint at step 2
    good = open(os.path.join(wd, "checkpoint", "state.msgpack"), "rb").read()
    real_loss = train.loss_from_waves
    monkeypatch.setattr(train, "loss_from_waves", lambda *a: real_loss(*a) * jnp.nan)
    train.make_train_step.cache_clear()  # retrace the step with the poisoned loss
    try:
        with pytest.raises(train.NonFiniteLoss, match="loss became nan at step 3; the last good checkpoint is kept"):
            train.run(TINY, wd, log=lambda s: None)
    finally:
        train.make_train_step.cache_clear()
    with open(os.path.join(wd, "checkpoint", "meta.json")) as f:
        assert json.load(f)["step"] == 2
    assert open(os.path.join(wd, "checkpoint", "state.msgpack"), "rb").read() == good


SHARDED = textwrap.dedent("""
    import jax, numpy as np
    from flax import nnx
    from jax.sharding import NamedSharding, PartitionSpec as P
    from jaxspec import train
    from jaxspec.config import TrainConfig
    assert jax.device_count() == 4, jax.devices()
    cfg = TrainConfig(batch_size=8, segment_seconds=0.25, n_fft=256, hop_length=64, context=1, hidden=32, layers=1,
                      warmup_steps=1, steps=4)
    rng = np.random.default_rng(0)
    clean = (0.1 * rng.standard_normal((8, 6000))).astype(np.float32)
    noise = rng.standard_normal((8, 7000)).astype(np.float32)
    step = train.make_train_step(cfg)
    def two_steps(sharded):
        model = train.make_model(cfg, rngs=nnx.Rngs(0))
        opt = train.make_optimizer(model, cfg)
        c, n = clean, noise
        if sharded:
            mesh = train.make_mesh()
            train.replicate(model, mesh); train.replicate(opt, mesh)
            c, n = train.shard_batch(clean, mesh), train.shard_batch(noise, mesh)
            assert len(c.sharding.device_set) == 4 and c.sharding.spec == P("batch")
        losses = [float(step(model, opt, c, n, jax.random.key(i))["loss"]) for i in range(2)]
        return losses, [np.asarray(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param))]
    l1, p1 = two_steps(False)
    l4, p4 = two_steps(True)
    np.testing.assert_allclose(l1, l4, rtol=1e-5)
    for a, b in zip(p1, p4):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    print("SHARDED_OK", l1, l4)
""")


def test_sharded_step_matches_single_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-c", SHARDED], env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "SHARDED_OK" in r.stdout, r.stdout + r.stderr
