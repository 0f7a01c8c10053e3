"""Timing helpers shared by every benchmark suite.

Rules: compile time and run time are reported apart; run time is the median over repeats after a
warm-up; every result row names what was timed. Compare ratios between rows of one run, never
absolute times across runs (2-core machines swing 5x between processes).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any, Callable

import jax


@dataclasses.dataclass
class Ctx:
    repeats: int = 7
    quick: bool = False  # smaller shapes and fewer repeats, for smoke tests

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


def block(x: Any) -> Any:
    """Wait for every JAX array in a pytree (no-op for NumPy/torch outputs)."""
    for leaf in jax.tree.leaves(x):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
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
