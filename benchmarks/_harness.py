"""Timing helpers shared by every benchmark suite.

Rules: compile time and run time are reported apart; run time is the median over repeats after a
warm-up; every result row names what was timed. Compare ratios between rows of one run, never
absolute times across runs (2-core machines swing 5x between processes). When JAX runs on a GPU
the torch references do too (:func:`torch_device`), and their timings wait for CUDA to finish.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import time
from typing import Any, Callable

import jax


@dataclasses.dataclass
class Ctx:
    repeats: int = 7
    quick: bool = False  # smaller shapes and fewer repeats, for smoke tests

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


_TORCH_DEVICE: str | None = None


def torch_device() -> str:
    """The device the torch references run on: ``"cuda"`` when JAX's default backend is a GPU and
    torch can run an STFT there (so both sides of a comparison run on the same kind of device),
    else ``"cpu"``. ``JAXSPEC_BENCH_TORCH_DEVICE`` (``cpu`` / ``cuda``) overrides."""
    global _TORCH_DEVICE
    if _TORCH_DEVICE is None:
        _TORCH_DEVICE = os.environ.get("JAXSPEC_BENCH_TORCH_DEVICE") or "cpu"
        if not os.environ.get("JAXSPEC_BENCH_TORCH_DEVICE") and jax.default_backend() in ("gpu", "cuda"):
            import torch

            try:
                x = torch.ones(4096, device="cuda")
                torch.stft(x, 512, 128, window=torch.hann_window(512, device="cuda"), return_complex=True)
                torch.cuda.synchronize()
                _TORCH_DEVICE = "cuda"
            except Exception as e:  # noqa: BLE001 -- no usable CUDA torch: keep the reference on the CPU
                print(f"torch cannot run on the GPU ({type(e).__name__}: {e}); torch references run on the CPU",
                      flush=True)
    return _TORCH_DEVICE


def torch_info() -> str | None:
    """``"<torch version> on <device>"`` once torch is imported (None before: never imports it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    if _TORCH_DEVICE == "cuda":
        return f"{torch.__version__} on {torch.cuda.get_device_name(0)} (cuda)"
    return f"{torch.__version__} on cpu ({torch.get_num_threads()} threads)"


def block(x: Any) -> Any:
    """Wait for every JAX array in a pytree, and for torch's CUDA work when the pytree holds a CUDA
    tensor (a no-op for NumPy and CPU torch outputs)."""
    cuda = False
    for leaf in jax.tree.leaves(x):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
        elif getattr(leaf, "is_cuda", False) is True:
            cuda = True
    if cuda:
        sys.modules["torch"].cuda.synchronize()
    return x


def time_call(fn: Callable[[], Any], *, repeats: int, warmup: int = 3) -> dict:
    """Median/min wall time (ms) of ``fn()`` after ``warmup`` calls.

    Three warm-up calls, not one: with torch imported, the first few runs of the first JAX
    computation in a process measured 4x slower (fresh pages, thread-pool start-up), which made a
    median over 7 repeats report 131 ms for a 29 ms STFT.
    """
    for _ in range(warmup):
        block(fn())
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        block(fn())
        ts.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(ts), "min_ms": min(ts), "repeats": repeats}


def time_jax(fn: Callable, *args, repeats: int) -> dict:
    """Compile time (lower + compile, ms) and run time of ``jax.jit(fn)(*args)`` apart."""
    jitted = jax.jit(fn)
    t0 = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    compile_ms = (time.perf_counter() - t0) * 1e3
    res = time_call(lambda: compiled(*args), repeats=repeats)
    res["compile_ms"] = compile_ms
    return res


def row(suite: str, name: str, impl: str, timing: dict, **extra) -> dict:
    out = {"suite": suite, "name": name, "impl": impl}
    out.update(timing)
    out.update(extra)
    return out
