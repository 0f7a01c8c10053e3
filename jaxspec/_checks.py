"""Eager validation of static arguments.

Every check raises at call (trace) time with a message that names the function, the argument,
the value it got and what is allowed, e.g. ``ValueError("stft: hop_length must be a positive
int, got 0")``. A traced value in a slot that fixes a shape gets a ``TypeError`` that says how to
make it static.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, Iterable

import jax
import jax.numpy as jnp
import numpy as np


def is_traced(value: Any) -> bool:
    """True when ``value`` is an abstract (traced) JAX value."""
    return isinstance(value, jax.core.Tracer)


def _static_hint(fn: str, name: str) -> str:
    return (
        f"{fn}: {name} fixes an output shape, so it must be a static Python value, got a traced "
        f"value. Bind it outside the transformation, e.g. with functools.partial({fn}, {name}=...) "
        f"or jax.jit(..., static_argnames=('{name}',))."
    )


def static_int(fn: str, name: str, value: Any, *, minimum: int | None = None, allow_none: bool = False) -> int | None:
    """Validate a static integer argument (``bool`` is rejected)."""
    if value is None and allow_none:
        return None
    if is_traced(value):
        raise TypeError(_static_hint(fn, name))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        if isinstance(value, (np.ndarray, jax.Array)) and np.ndim(value) == 0 and np.issubdtype(np.asarray(value).dtype, np.integer):
            value = int(value)
        else:
            allowed = "an int" + (" or None" if allow_none else "")
            raise TypeError(f"{fn}: {name} must be {allowed}, got {value!r} of type {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        what = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{fn}: {name} must be {what}, got {value}")
    return value


def static_bool(fn: str, name: str, value: Any) -> bool:
    if is_traced(value):
        raise TypeError(_static_hint(fn, name))
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be True or False, got {value!r}")
    return bool(value)


def static_float(fn: str, name: str, value: Any, *, minimum: float | None = None, strict: bool = False,
                 allow_none: bool = False) -> float | None:
    """Validate a static real number; ``strict`` makes ``minimum`` exclusive."""
    if value is None and allow_none:
        return None
    if is_traced(value):
        raise TypeError(_static_hint(fn, name))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        if isinstance(value, (np.ndarray, jax.Array)) and np.ndim(value) == 0:
            value = float(value)
        else:
            raise TypeError(f"{fn}: {name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{fn}: {name} must be finite, got {value}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        op = ">" if strict else ">="
        raise ValueError(f"{fn}: {name} must be {op} {minimum}, got {value}")
    return value


def choice(fn: str, name: str, value: Any, allowed: Iterable[Any]) -> Any:
    allowed = tuple(allowed)
    if is_traced(value):
        raise TypeError(_static_hint(fn, name))
    if not isinstance(value, (str, type(None), bool, int)) or value not in allowed:
        raise ValueError(f"{fn}: {name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def concrete_positive(fn: str, name: str, value: Any, *, allow_zero: bool = False) -> None:
    """Check a possibly-traced numeric argument when it is concrete (a Python or NumPy number)."""
    if is_traced(value) or isinstance(value, jax.Array) and not _is_concrete(value):
        return
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{fn}: {name} must be numeric, got {value!r}")
    bad = (arr < 0) if allow_zero else (arr <= 0)
    if np.any(bad) or not np.all(np.isfinite(arr)):
        what = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{fn}: {name} must be finite and {what}, got {value!r}")


def _is_concrete(x) -> bool:
    try:
        np.asarray(x)
        return True
    except Exception:  # a tracer
        return False


def real_signal(fn: str, name: str, x: Any) -> jax.Array:
    """Convert ``x`` to a real floating JAX array, following the input precision.

    float32 stays float32, float64 stays float64 (when x64 is on), bfloat16/float16 are promoted
    to float32. Integer and boolean input raise ``TypeError`` (scale PCM first); complex raises.
    """
    dtype = np.result_type(x) if not isinstance(x, jax.Array) else x.dtype
    if np.issubdtype(dtype, np.complexfloating):
        raise TypeError(f"{fn}: {name} must be a real floating-point array, got complex dtype {dtype}")
    if np.issubdtype(dtype, np.integer) or dtype == np.bool_:
        scale = ""
        if np.issubdtype(dtype, np.integer) and np.dtype(dtype).itemsize > 1:
            scale = f" (e.g. x / {2 ** (8 * np.dtype(dtype).itemsize - 1)} for {np.dtype(dtype).name} PCM)"
        raise TypeError(
            f"{fn}: {name} must be a floating-point array, got dtype {np.dtype(dtype).name}. "
            f"Convert integer PCM to float in [-1, 1] first{scale}, or load audio with jaxspec.load."
        )
    x = jnp.asarray(x)
    if x.dtype in (jnp.bfloat16, jnp.float16):
        x = x.astype(jnp.float32)
    elif not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    return x


def complex_spec(fn: str, name: str, S: Any, *, min_ndim: int = 2) -> jax.Array:
    """Convert ``S`` to a complex JAX array of at least ``min_ndim`` dims (``(..., freq, frames)``)."""
    dtype = S.dtype if isinstance(S, jax.Array) else np.result_type(S)
    if np.issubdtype(dtype, np.integer) or dtype == np.bool_:
        raise TypeError(f"{fn}: {name} must be a complex (or floating) array, got dtype {np.dtype(dtype).name}")
    S = jnp.asarray(S)
    if not jnp.iscomplexobj(S):
        S = S.astype(jnp.result_type(S.dtype if S.dtype not in (jnp.bfloat16, jnp.float16) else jnp.float32, jnp.complex64))
    if S.ndim < min_ndim:
        raise ValueError(f"{fn}: {name} must have shape (..., freq, frames) with at least {min_ndim} dims, got shape {S.shape}")
    return S


def floating(fn: str, name: str, x: Any) -> jax.Array:
    """Like :func:`real_signal` but also accepts complex input (kept complex)."""
    dtype = x.dtype if isinstance(x, jax.Array) else np.result_type(x)
    if np.issubdtype(dtype, np.complexfloating):
        return jnp.asarray(x)
    return real_signal(fn, name, x)


def same_shape(fn: str, names: tuple[str, str], a: jax.Array, b: jax.Array) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{fn}: {names[0]} and {names[1]} must have the same shape, got {a.shape} and {b.shape}")


def warn(msg: str, *, stacklevel: int = 3) -> None:
    warnings.warn(msg, stacklevel=stacklevel)


def normalize_axis(fn: str, name: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """Validate ``axis`` (int or tuple of ints) against ``ndim``; returns sorted positive axes."""
    axes = (axis,) if isinstance(axis, (numbers.Integral, np.integer)) and not isinstance(axis, bool) else axis
    if not isinstance(axes, tuple) or not all(isinstance(a, (numbers.Integral, np.integer)) and not isinstance(a, bool) for a in axes) or not axes:
        raise TypeError(f"{fn}: {name} must be an int or a non-empty tuple of ints, got {axis!r}")
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{fn}: {name}={axis!r} is out of range for an input with {ndim} dims")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{fn}: {name}={axis!r} repeats an axis")
    return tuple(sorted(out))
