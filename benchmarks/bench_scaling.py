"""Scaling over devices, and the DFT-as-matmul path against the FFT path.

1. The training-target pipeline ``random_mix -> stft (mixture, clean, noise) -> (log-mel, IRM)``
   (batch 32 x 4 s at 16 kHz, n_fft 512, hop 128, 80 mels; quick: 4 x 0.5 s), its batch sharded
   over a 1-D mesh of 1 and of 2 host devices. Each configuration runs in its own process with
   ``--xla_force_host_platform_device_count=N``, single-threaded devices
   (``--xla_cpu_multi_thread_eigen=false``) and its CPU affinity set to N cores, so one device is
   one core. Two builds of the same pipeline: jaxspec's partitioned FFTs, and the same code with
   the plain ``jnp.fft`` (which XLA does not partition: it gathers the batch and every device
   transforms all of it). The summary gives the throughput ratio 2 vs 1 device of each.
2. The example application's training step (:func:`train_step_case`) on 1 and 2 devices, with
   the partitioned and the gathering FFT.
3. ``stft``/``istft`` with ``fft_impl="matmul"`` against ``fft_impl="fft"`` for n_fft 256, 512
   and 1024 (hop n_fft / 4) on the default device, named in each row.

    python -m benchmarks --suite scaling [--quick]

``JAXSPEC_BENCH_SCALING_HOST=0`` leaves out parts 1 and 2 (host CPU devices, whatever the default
backend is), e.g. on a GPU machine where only part 3 measures the accelerator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from ._harness import Ctx, row, time_call, time_jax

SUITE = "scaling"
SR, N_FFT, HOP, N_MELS = 16000, 512, 128, 80
DEVICES = (1, 2)
IMPLS = ("partitioned FFT (jaxspec)", "gathering FFT (plain jnp.fft)")


def train_step_case(mesh, quick: bool):
    """The example's training step on ``mesh`` (batch sharded over its ``"batch"`` axis, model and
    optimiser replicated): the frame-wise DNN recipe (DNN 3x256, SA loss, no augmentation), batch 16 x 1 s
    (quick: 4 x 0.25 s). Returns ``(step, args, batch)``."""
    from jaxspec.enhance import train
    from jaxspec.enhance.config import TrainConfig

    dnn = dict(model="dnn", layers=3, context=2, hop_length=128, feature_norm="utterance", augment=False,
               speaker_augment=False, reverb_prob=0.0, level_range=None)
    cfg = TrainConfig(batch_size=4, segment_seconds=0.25, **dnn) if quick else TrainConfig(batch_size=16, **dnn)
    model, opt = train._build(cfg)
    train.replicate(model, mesh)
    train.replicate(opt, mesh)
    rng = np.random.default_rng(0)
    clean = train.shard_batch((0.1 * rng.standard_normal((cfg.batch_size, cfg.segment))).astype(np.float32), mesh)
    noise = train.shard_batch(rng.standard_normal((cfg.batch_size, cfg.segment)).astype(np.float32), mesh)
    step = train.make_train_step(cfg)
    key = __import__("jax").random.key(0)
    return (lambda m, o, c, n: step(m, o, c, n, key)["loss"]), (model, opt, clean, noise), cfg.batch_size


def _pipeline():
    import functools

    import jaxspec as js
    from jaxspec import masks

    stft = functools.partial(js.stft, n_fft=N_FFT, hop_length=HOP)
    snr = js.Uniform(-5.0, 20.0)

    def fn(key, clean, noise):
        y, kn, _ = js.random_mix(key, clean, noise, snr)
        Y, S, N = stft(y), stft(clean), stft(kn)
        return js.log_mel(Y, sr=SR, n_mels=N_MELS, n_fft=N_FFT, top_db=None), masks.irm(S, N)

    return fn


def _worker(cfg: dict) -> dict:
    """One configuration, in a fresh process whose XLA flags and affinity the parent set."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    from jaxspec import _fft

    if cfg["impl"] == IMPLS[1]:  # the same pipeline with the FFT XLA does not partition
        _fft.rfft, _fft.irfft = jnp.fft.rfft, jnp.fft.irfft
    n_dev = cfg["devices"]
    assert jax.device_count() == n_dev, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("batch",))
    sh = NamedSharding(mesh, P("batch"))
    batch, n = cfg["batch"], int(SR * cfg["seconds"])
    rng = np.random.default_rng(0)
    clean = jax.device_put(rng.uniform(-0.5, 0.5, (batch, n)).astype(np.float32), sh)
    noise = jax.device_put(rng.standard_normal((batch, n)).astype(np.float32), sh)
    key = jax.random.key(0)
    out = {}
    if cfg["what"] == "pipeline":
        fn = _pipeline()
        out.update(time_jax(fn, key, clean, noise, repeats=cfg["repeats"]))
        text = jax.jit(fn).lower(key, clean, noise).compile().as_text()  # after the timed compile
        out["all_gathers"] = text.count(" all-gather(") + text.count(" all-gather-start(")
    else:
        case = train_step_case(mesh, cfg["quick"])
        if case is None:
            return {"skipped": "train_step_case returned None"}
        step, args, batch = case
        out.update(time_call(lambda: step(*args), repeats=cfg["repeats"]))
    out.update(examples_per_s=batch / (out["median_ms"] / 1e3), batch=batch, device=str(jax.devices()[0].device_kind))
    return out


def _cpus(n: int) -> list[int] | None:
    have = sorted(os.sched_getaffinity(0))
    if len(have) < n:  # the parent may be pinned to fewer cores (--cores 1): take any n of the machine's
        have = list(range(os.cpu_count() or 1))
    return have[:n] if len(have) >= n else None


def _spawn(cfg: dict) -> dict:
    cpus = _cpus(cfg["devices"])
    if cpus is None:
        return {"skipped": f"needs {cfg['devices']} cores, the machine has {os.cpu_count()}"}
    flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                     if not f.startswith(("--xla_force_host_platform_device_count", "--xla_cpu_multi_thread_eigen")))
    env = dict(os.environ, JAX_PLATFORMS="cpu", OMP_NUM_THREADS="1",
               XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count={cfg['devices']} --xla_cpu_multi_thread_eigen=false")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-m", "benchmarks.bench_scaling", json.dumps(dict(cfg, cpus=cpus))],
                       env=env, cwd=root, capture_output=True, text=True, timeout=1800)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    if r.returncode or not lines:
        raise RuntimeError(f"scaling worker {cfg} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    return dict(json.loads(lines[-1][len("RESULT "):]), cores=len(cpus))


def run(ctx: Ctx) -> list[dict]:
    import jax
    import jax.numpy as jnp

    import jaxspec as js

    rows = []
    batch, seconds = ctx.size(32, 4), (4.0 if not ctx.quick else 0.5)
    base = dict(batch=batch, seconds=seconds, repeats=ctx.repeats, quick=ctx.quick)
    host = os.environ.get("JAXSPEC_BENCH_SCALING_HOST", "1") != "0"
    for what, impls in ((("pipeline", IMPLS), ("train step", IMPLS)) if host else ()):
        for impl in impls:
            for n_dev in DEVICES:
                res = _spawn(dict(base, what=what, impl=impl, devices=n_dev))
                if "skipped" in res:
                    continue
                name = (f"mix->stft->(log-mel, irm) {batch}x{seconds:g}s" if what == "pipeline"
                        else f"train step {res['batch']} examples")
                rows.append(row(SUITE, name, f"{impl}, {n_dev} device(s)", res, devices=n_dev, what=what, fft=impl))

    # DFT as a matmul vs FFT, on the default device
    device = f"{jax.devices()[0].device_kind} ({jax.default_backend()})"
    x = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (batch, int(SR * seconds))).astype(np.float32))
    for n_fft in (256, 512, 1024):
        kw = dict(n_fft=n_fft, hop_length=n_fft // 4)
        S = jax.jit(lambda v: js.stft(v, **kw))(x)
        for impl in ("fft", "matmul"):
            rows.append(row(SUITE, f"stft n_fft={n_fft} {batch}x{seconds:g}s", f"fft_impl={impl!r}",
                            time_jax(lambda v: js.stft(v, **kw, fft_impl=impl), x, repeats=ctx.repeats),
                            device=device, n_fft=n_fft, op="stft", fft_impl=impl))
            rows.append(row(SUITE, f"istft n_fft={n_fft} {batch}x{seconds:g}s", f"fft_impl={impl!r}",
                            time_jax(lambda s: js.istft(s, **kw, fft_impl=impl), S, repeats=ctx.repeats),
                            device=device, n_fft=n_fft, op="istft", fft_impl=impl))
    return rows


def summarize(rows: list[dict]) -> list[str]:
    out = []
    for what in ("pipeline", "train step"):
        for impl in IMPLS:
            by_dev = {r["devices"]: r for r in rows if r.get("what") == what and r.get("fft") == impl}
            if 1 in by_dev and 2 in by_dev:
                a, b = by_dev[1], by_dev[2]
                out.append(f"- {what}, {impl}: {b['examples_per_s'] / a['examples_per_s']:.2f}x the throughput on 2 devices "
                           f"({a['examples_per_s']:.0f} -> {b['examples_per_s']:.0f} examples/s; "
                           f"all-gathers in the program: {b.get('all_gathers', '?')})")
    if not any(r.get("what") for r in rows):
        out.append("- host-device scaling (parts 1 and 2): not run (JAXSPEC_BENCH_SCALING_HOST=0)")
    elif not any(r.get("what") == "train step" for r in rows):
        out.append("- train step: no rows (the train_step_case hook returns None)")
    for op in ("stft", "istft"):
        for n_fft in (256, 512, 1024):
            impls = {r["fft_impl"]: r for r in rows if r.get("op") == op and r.get("n_fft") == n_fft}
            if {"fft", "matmul"} <= impls.keys():
                f, m = impls["fft"], impls["matmul"]
                out.append(f"- {op} n_fft={n_fft} on {f['device']}: matmul {m['median_ms']:.2f} ms vs fft "
                           f"{f['median_ms']:.2f} ms ({f['median_ms'] / m['median_ms']:.2f}x the speed of the FFT)")
    return out


if __name__ == "__main__":  # worker: python -m benchmarks.bench_scaling '<json config>'
    _cfg = json.loads(sys.argv[1])
    try:
        os.sched_setaffinity(0, _cfg["cpus"])
    except OSError:
        pass
    print("RESULT " + json.dumps(_worker(_cfg)), flush=True)
