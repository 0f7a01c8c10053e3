"""The transformation-test registry: one row per public function.

Each ``tests/registry/rows_<module>.py`` defines ``ROWS``, a list of :class:`Row`. The contract
tests in ``tests/test_jax_contract.py`` run every row under jit, vmap, grad and x64;
``tests/test_api.py`` checks that every public name has a row. Adding a public function means
adding one row in the file of its module.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any, Callable, Optional, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Row:
    """How to exercise one public function.

    name: the public name, as in ``jaxspec.__all__`` (``"masks.irm"`` for submodule names).
    fn: callable taking the arrays made by ``args`` (and a PRNG key first when ``random``), with
        every static/config argument already bound.
    args: ``args(rng, batch, dtype) -> tuple`` of arrays with leading dims ``batch`` (a tuple),
        of floating dtype ``dtype`` (complex arrays use the matching complex dtype).
    kind: ``"array"`` (jit/vmap/grad apply), or ``"static"`` (a helper without array inputs whose
        result is a constant: only checked for finiteness and use inside jit).
    random: ``fn(key, *arrays)``; vmap is over split keys, same key -> same bits.
    grad_argnums: which array arguments (0-based, not counting the key) to differentiate; ``()``
        when the function does not claim differentiability.
    zeros: also check value and gradient at all-zero inputs.
    zero_argnums: which array arguments are zeroed for that check (default: all of them); e.g.
        ``(0,)`` for ``phase_vocoder(S, rate)``, where a zero rate is invalid but silence is not.
    native_batch: the function takes arbitrary leading batch dims itself (checked against vmap).
    x64: check that float64 input gives 64-bit output under ``jax.enable_x64``.
    atol/rtol: tolerances for jit-vs-eager and vmap-vs-loop (float32).
    """

    name: str
    fn: Callable[..., Any]
    args: Optional[Callable[[np.random.Generator, tuple, Any], tuple]] = None
    kind: str = "array"
    random: bool = False
    grad_argnums: Sequence[int] = (0,)
    zeros: bool = True
    zero_argnums: Optional[Sequence[int]] = None
    native_batch: bool = True
    x64: bool = True
    atol: float = 1e-5
    rtol: float = 1e-5
    id: str = ""

    @property
    def test_id(self) -> str:
        return self.id or self.name


def all_rows() -> list[Row]:
    rows: list[Row] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("rows_"):
            rows.extend(importlib.import_module(f"{__name__}.{info.name}").ROWS)
    return rows


def real(rng: np.random.Generator, shape: tuple, dtype, scale: float = 1.0) -> np.ndarray:
    return (scale * rng.standard_normal(shape)).astype(dtype)


def cplx(rng: np.random.Generator, shape: tuple, dtype, scale: float = 1.0) -> np.ndarray:
    ct = np.result_type(dtype, np.complex64)
    return (scale * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))).astype(ct)
