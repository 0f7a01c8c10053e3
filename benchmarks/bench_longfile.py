"""Long inputs: peak memory and time of ``resample`` on a 10-minute 48 kHz stereo signal, of
``jaxspec enhance`` on a 60-minute 48 kHz stereo WAV, and the real-time factor of streaming.

Resampling: the signal (float32, ``(2, 28_800_000)``) is resampled to 16 kHz and back, each direction one
jitted call. The measurement runs in a fresh subprocess so that ``ru_maxrss`` (peak resident set
size) is that of this job alone: it includes the Python interpreter, JAX/XLA (~300 MB before any
array) and the arrays: the input alone is 230 MB, the 16 kHz signal 77 MB, the round trip 230 MB.
Target (issue: a 10-minute file within 2 GB): peak RSS well under 2 GB.

Enhancement: ``jaxspec enhance`` runs in a fresh process under ``/usr/bin/time -v`` (peak RSS
is its "Maximum resident set size") on a 60-minute 48 kHz stereo 16-bit WAV (speech from the
shipped corpus with noise at 5 dB, written block by block), once with the demo's GRU config and
once with the dereverberation U-Net config (``configs/dereverb.json``). The checkpoints have the
configs' architecture with untrained weights unless ``JAXSPEC_BENCH_GRU`` / ``JAXSPEC_BENCH_UNET``
name trained work directories: memory and time do not depend on the weights' values. Target:
peak RSS below 1.5 GB.

Streaming: ``jaxspec.enhance.chunked.stream`` (what ``jaxspec enhance --stream`` runs) on 60 s
of 16 kHz mono, blocks of 10 ms and 100 ms, the demo's GRU config: processing time over audio
time (below 1: faster than real time), with the algorithmic latency of the streamed STFT/iSTFT
(``jaxspec.streaming.latency``) for that block.

``--quick`` uses a 10-second signal, a 1-minute file and 5 s of stream (a smoke test of the code
paths, not figures to report).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from . import _harness

SUITE = "longfile"

_CHILD = r"""
import json, resource, sys, time
import numpy as np
import jax, jax.numpy as jnp
import jaxspec as js

secs, sr, low = float(sys.argv[1]), 48000, 16000
rng = np.random.default_rng(0)
x = rng.standard_normal((2, int(secs * sr)), dtype=np.float32)  # float32 from the start: 230 MB, no float64 copy
x *= 0.1
base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # interpreter + JAX + the input
x = jax.device_put(x)
down = jax.jit(lambda x: js.resample(x, orig_sr=sr, target_sr=low))
up = jax.jit(lambda y: js.resample(y, orig_sr=low, target_sr=sr))
t0 = time.perf_counter()
cd = down.lower(x).compile()
y = cd(x).block_until_ready()
cu = up.lower(y).compile()
compile_ms = (time.perf_counter() - t0) * 1e3  # both compilations and one down call
times = []
for _ in range(int(sys.argv[2])):
    t0 = time.perf_counter()
    y = cd(x).block_until_ready()
    z = cu(y).block_until_ready()
    times.append((time.perf_counter() - t0) * 1e3)
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"times_ms": times, "compile_ms": compile_ms, "peak_rss_mb": rss_kb / 1024, "base_rss_mb": base_mb, "shape_in": list(x.shape),
                  "shape_16k": list(y.shape), "shape_out": list(z.shape)}))
"""


def measure(secs: float, repeats: int) -> dict:
    """Run the round trip in a fresh process; return its times and peak RSS (MB)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # without the harness's malloc settings (no mmap, no trimming), which keep freed memory resident
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["PYTHONPATH"] = root + os.pathsep + os.environ.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", _CHILD, str(secs), str(repeats)], capture_output=True, text=True,
                         env=env, cwd=root, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _clean_env() -> dict:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["PYTHONPATH"] = root + os.pathsep + os.environ.get("PYTHONPATH", "")
    return env


def _write_long_file(path: str, minutes: float, sr: int = 48000) -> None:
    """A stereo 16-bit WAV: shipped speech (looped) plus noise at 5 dB SNR, written 10 s at a time."""
    import numpy as np
    import soundfile as sf

    import jaxspec as js
    from jaxspec.enhance import input_pipeline as ip

    speech = np.concatenate([np.asarray(js.load(p, sr=sr)[0], np.float32) for p in ip.shipped_speech("heldout")[:8]])
    rng = np.random.default_rng(0)
    block, total = 10 * sr, int(minutes * 60 * sr)
    pos = 0
    with sf.SoundFile(path, "w", samplerate=sr, channels=2, subtype="PCM_16") as f:
        for start in range(0, total, block):
            n = min(block, total - start)
            idx = (pos + np.arange(n)) % len(speech)
            pos += n
            s = np.stack([speech[idx], speech[(idx + sr // 3) % len(speech)]])
            noise = rng.standard_normal((2, n)).astype(np.float32)
            noise *= np.sqrt(np.mean(s ** 2) / np.mean(noise ** 2) / 10 ** 0.5)
            f.write((0.5 * (s + noise)).T)


def _checkpoint(kind: str, workdir: str) -> str:
    """A work directory with a checkpoint of the demo GRU or the dereverberation U-Net config."""
    trained = os.environ.get({"gru": "JAXSPEC_BENCH_GRU", "unet": "JAXSPEC_BENCH_UNET"}[kind])
    if trained:
        return trained
    from jaxspec.enhance import checkpoints, train
    from jaxspec.enhance.config import TrainConfig

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cfg = TrainConfig() if kind == "gru" else TrainConfig.from_json(os.path.join(root, "jaxspec", "enhance", "configs", "dereverb.json"))
    model, opt = train._build(cfg)
    checkpoints.save(workdir, model, opt, cfg, 1)
    return workdir


_ENHANCE = "import sys; from jaxspec import cli; sys.exit(cli.main(sys.argv[1:]))"


def measure_enhance(src: str, checkpoint: str, dst: str) -> dict:
    """``jaxspec enhance src -o dst`` in a fresh process: wall time and peak RSS."""
    cmd = [sys.executable, "-c", _ENHANCE, "enhance", src, "-o", dst, "--checkpoint", checkpoint]
    timer = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    t0 = time.perf_counter()
    if timer:
        out = subprocess.run([timer, "-v"] + cmd, capture_output=True, text=True, env=_clean_env(), check=True)
        rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
        how = "/usr/bin/time -v"
    else:  # the largest waited-for child
        import resource

        subprocess.run(cmd, capture_output=True, text=True, env=_clean_env(), check=True)
        rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        how = "getrusage(RUSAGE_CHILDREN)"
    return {"seconds": time.perf_counter() - t0, "peak_rss_mb": rss_kb / 1024, "rss_from": how}


def measure_stream(seconds: float, block_ms: float) -> dict:
    import numpy as np
    import soundfile as sf

    import jaxspec as js
    from jaxspec import streaming
    from jaxspec.enhance import chunked, input_pipeline as ip, train
    from jaxspec.enhance.config import TrainConfig

    cfg = TrainConfig()
    model, _ = train._build(cfg)
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.wav"), os.path.join(d, "out.wav")
        speech = np.concatenate([np.asarray(js.load(p, sr=16000)[0], np.float32) for p in ip.shipped_speech("heldout")[:8]])
        x = np.resize(speech, int(seconds * 16000))
        sf.write(src, 0.5 * x, 16000, subtype="PCM_16")
        chunked.stream(model, cfg, src, dst, block_ms=block_ms, log=lambda s: None)  # warm-up: compiles
        res = chunked.stream(model, cfg, src, dst, block_ms=block_ms, log=lambda s: None)
    block = int(round(block_ms * cfg.sr / 1000))
    lat = streaming.latency(n_fft=cfg.n_fft, hop_length=cfg.hop_length, chunk=block)
    return {"rtf": res["rtf"], "elapsed_s": res["elapsed"], "audio_s": res["seconds"], "block_samples": block,
            "latency_ms": 1000 * lat / cfg.sr}


def run(ctx: _harness.Ctx) -> list[dict]:
    rows = _resample_rows(ctx)
    minutes = 1.0 if ctx.quick else 60.0
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "long.wav")
        _write_long_file(src, minutes)
        for kind, what in (("gru", "GRU (demo config)"), ("unet", "U-Net (dereverb config)")):
            wd = _checkpoint(kind, os.path.join(d, kind))
            res = measure_enhance(src, wd, os.path.join(d, f"out-{kind}.wav"))
            trained = "trained" if wd != os.path.join(d, kind) else "untrained weights"
            rows.append(_harness.row(SUITE, f"jaxspec enhance {minutes:g} min 48k stereo WAV, {what}", f"block by block ({trained})",
                                     {"median_ms": 1e3 * res["seconds"], "min_ms": 1e3 * res["seconds"], "repeats": 1,
                                      "compile_ms": None}, peak_rss_mb=res["peak_rss_mb"], rss_from=res["rss_from"],
                                     audio_minutes=minutes, real_time_factor=res["seconds"] / (60 * minutes)))
    for block_ms in (10.0, 100.0):
        res = measure_stream(5.0 if ctx.quick else 60.0, block_ms)
        rows.append(_harness.row(SUITE, f"stream enhance 16k mono, GRU (demo config), block {block_ms:g} ms", "chunked.stream",
                                 {"median_ms": 1e3 * res["elapsed_s"], "min_ms": 1e3 * res["elapsed_s"], "repeats": 1,
                                  "compile_ms": None}, **res))
    return rows


def _resample_rows(ctx: _harness.Ctx) -> list[dict]:
    secs = 10.0 if ctx.quick else 600.0
    res = measure(secs, max(1, min(ctx.repeats, 3)))
    ts = sorted(res["times_ms"])
    timing = {"median_ms": ts[len(ts) // 2], "min_ms": ts[0], "repeats": len(ts), "compile_ms": res["compile_ms"]}
    name = f"resample 48k->16k->48k stereo {secs / 60:g} min" if secs >= 60 else f"resample 48k->16k->48k stereo {secs:g} s"
    return [_harness.row(SUITE, name, "jaxspec polyphase", timing, peak_rss_mb=res["peak_rss_mb"],
                         base_rss_mb=res["base_rss_mb"])]


def summarize(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        if "rtf" in r:
            out.append(f"- {r['name']}: real-time factor {r['rtf']:.3f} ({r['audio_s']:.0f} s of audio in "
                       f"{r['elapsed_s']:.2f} s, after a warm-up run); algorithmic latency {r['latency_ms']:.1f} ms")
            continue
        if "audio_minutes" in r:
            rss = r["peak_rss_mb"]
            out.append(f"- {r['name']} ({r['impl']}): peak RSS {rss:.0f} MB (target below 1536 MB): "
                       f"{'met' if rss < 1536 else 'NOT met'} ({r['rss_from']}); {r['median_ms'] / 1e3:.0f} s, "
                       f"{r['real_time_factor']:.3f} x real time")
            continue
        rss = r["peak_rss_mb"]
        out.append(f"- {r['name']}: peak RSS {rss:.0f} MB (target well under 2048 MB): "
                   f"{'met' if rss < 2048 else 'NOT met'}; {r['base_rss_mb']:.0f} MB before the first call "
                   f"(interpreter, JAX, the input); {r['median_ms'] / 1e3:.2f} s per round trip")
    return out
