"""Long inputs: peak memory and time of ``resample`` on a 10-minute 48 kHz stereo signal.

The signal (float32, ``(2, 28_800_000)``) is resampled to 16 kHz and back, each direction one
jitted call. The measurement runs in a fresh subprocess so that ``ru_maxrss`` (peak resident set
size) is that of this job alone: it includes the Python interpreter, JAX/XLA (~300 MB before any
array) and the arrays: the input alone is 230 MB, the 16 kHz signal 77 MB, the round trip 230 MB.
Target (issue: a 10-minute file within 2 GB): peak RSS well under 2 GB.

``--quick`` uses a 10-second signal (a smoke test of the code path, not a memory figure).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

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


def run(ctx: _harness.Ctx) -> list[dict]:
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
        rss = r["peak_rss_mb"]
        out.append(f"- {r['name']}: peak RSS {rss:.0f} MB (target well under 2048 MB): "
                   f"{'met' if rss < 2048 else 'NOT met'}; {r['base_rss_mb']:.0f} MB before the first call "
                   f"(interpreter, JAX, the input); {r['median_ms'] / 1e3:.2f} s per round trip")
    return out
