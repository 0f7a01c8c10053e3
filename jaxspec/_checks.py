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
    """Check a possibly-traced numeric argument when it is concrete (a Python or NumPy number).

    The dtype is checked even when traced: complex values raise ``TypeError`` (their imaginary
    part would be dropped silently)."""
    real_dtype(fn, name, value)
    if is_traced(value) or isinstance(value, jax.Array) and not _is_concrete(value):
        return
    arr = np.asarray(value)
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
    dtype = array_dtype(fn, name, x)
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
    dtype = array_dtype(fn, name, S)
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
    dtype = array_dtype(fn, name, x)
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


# -- array inputs, traced-allowed numbers, shapes and sizes ----------------------------------------

# Largest output, in elements per example (the part of the shape that a rate or a length sets),
# that a function will allocate: 2**28 = 268,435,456 (1 GiB of float32, e.g. 93 minutes at
# 48 kHz). Beyond it a bad rate or length (``phase_vocoder(S, 1e-7)``, ``resample(x,
# target_sr=1e10)``) would try to allocate many gigabytes; process such inputs in blocks.
MAX_OUTPUT_ELEMENTS = 1 << 28


def array_dtype(fn: str, name: str, x: Any) -> np.dtype:
    """The dtype ``x`` would have as an array; ``TypeError`` naming ``fn``/``name`` for ``None``,
    strings, bytes and anything that is not numeric (object or string arrays)."""
    if isinstance(x, jax.Array) or is_traced(x):
        return np.dtype(x.dtype)
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"{fn}: {name} must be a numeric array (NumPy or JAX) or number, got {x!r}")
    dt = getattr(x, "dtype", None)
    if not isinstance(dt, np.dtype):
        try:
            dt = np.asarray(x).dtype
        except Exception as e:  # ragged lists and the like
            raise TypeError(f"{fn}: {name} must be a numeric array (NumPy or JAX) or number, got "
                            f"{type(x).__name__} ({e})") from None
    if dt.kind not in "biufc" and dt != jnp.bfloat16:
        raise TypeError(f"{fn}: {name} must be a numeric array (NumPy or JAX) or number, got dtype {dt} "
                        f"({type(x).__name__})")
    return dt


def real_dtype(fn: str, name: str, value: Any) -> np.dtype:
    """Dtype check for a real parameter that may be traced (a rate, a ratio, a number of steps):
    complex values raise ``TypeError`` (a cast would drop the imaginary part), as do booleans,
    ``None`` and strings. Returns the dtype."""
    dt = array_dtype(fn, name, value)
    if isinstance(value, (bool, np.bool_)) or dt == np.bool_:
        raise TypeError(f"{fn}: {name} must be a real number or array, got the boolean {value!r}")
    if dt.kind == "c":
        raise TypeError(f"{fn}: {name} must be real, got complex {value!r} (dtype {dt}); a cast would drop "
                        f"the imaginary part: pass the real part explicitly if that is what you mean")
    return dt


def real_array(fn: str, name: str, value: Any, what: str = "a real number or array") -> Any:
    """``value`` with lists/tuples turned into NumPy arrays; ``TypeError`` (saying it must be
    ``what``) unless it is real-numeric: float or int, not ``None``, a string, a boolean, complex
    or a ragged sequence. Traced values pass through."""
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{fn}: {name} must be {what}, got {value!r}")
    if isinstance(value, (list, tuple)):
        try:
            value = np.asarray(value)
        except (ValueError, TypeError):
            raise TypeError(f"{fn}: {name} must be {what}, got the ragged or mixed sequence {value!r}") from None
    dt = value.dtype if hasattr(value, "dtype") else np.result_type(type(value))
    if dt == np.bool_ or not (np.issubdtype(dt, np.floating) or np.issubdtype(dt, np.integer)):
        raise TypeError(f"{fn}: {name} must be {what} of a real dtype (float or int), got {value!r} of dtype {dt}")
    return value


def concrete_real(fn: str, name: str, value: Any, *, low: float | None = None, high: float | None = None,
                  note: str = "") -> None:
    """Check a traced-allowed real parameter: its dtype always (see :func:`real_dtype`), and when it
    is concrete that every entry is finite and within ``[low, high]`` (``note`` explains the bounds)."""
    real_dtype(fn, name, value)
    if is_traced(value) or isinstance(value, jax.Array) and not _is_concrete(value):
        return
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{fn}: {name} must be finite, got {value!r}")
    if (low is not None and np.any(arr < low)) or (high is not None and np.any(arr > high)):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{fn}: {name} must be in [{lo}, {hi}]{note}, got {value!r}")


def broadcast_to(fn: str, name: str, value: jax.Array, shape: tuple[int, ...], target: str) -> jax.Array:
    """``jnp.broadcast_to(value, shape)`` with a ``ValueError`` naming ``fn``, ``name`` and
    ``target`` (what ``shape`` is, e.g. ``"the batch shape of x (2, 16000)"``)."""
    value = jnp.asarray(value)
    try:
        return jnp.broadcast_to(value, shape)
    except ValueError:
        raise ValueError(f"{fn}: {name} of shape {value.shape} does not broadcast to {target} {tuple(shape)}") from None


def broadcastable(fn: str, name: str, shape: tuple[int, ...], target_shape: tuple[int, ...], target: str) -> None:
    """``ValueError`` unless an array of ``shape`` broadcasts against ``target_shape`` without
    changing it (a per-bin or per-example parameter of an array named ``target``)."""
    try:
        out = np.broadcast_shapes(tuple(shape), tuple(target_shape))
    except ValueError:
        out = None
    if out != tuple(target_shape):
        raise ValueError(f"{fn}: {name} of shape {tuple(shape)} does not broadcast to the shape {tuple(target_shape)} "
                         f"of {target}; use a scalar, a per-example array of shape batch + (1, 1), or the full shape")


def same_broadcast(fn: str, names: tuple[str, str], a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast shape of two arrays, or a ``ValueError`` naming both arguments."""
    try:
        return tuple(np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        raise ValueError(f"{fn}: {names[0]} of shape {tuple(a)} and {names[1]} of shape {tuple(b)} do not "
                         f"broadcast together") from None


def output_size(fn: str, what: str, n: float, *, hint: str = "") -> None:
    """``ValueError`` when an output would hold more than :data:`MAX_OUTPUT_ELEMENTS` elements per
    example (``n``, computed from static arguments before anything is allocated)."""
    if not n <= MAX_OUTPUT_ELEMENTS:
        raise ValueError(f"{fn}: {what} would have {n:.4g} elements per example, more than the limit of "
                         f"2**28 = {MAX_OUTPUT_ELEMENTS} (1 GiB of float32){hint}")


def state_dtype(fn: str, dtype, *, complex_: bool = False) -> np.dtype:
    """Validate the ``dtype`` argument of a state constructor: a real (or complex) floating dtype."""
    kind, names, base = (("a complex dtype", "complex64 or complex128", np.complexfloating) if complex_ else
                         ("a real floating dtype", "float32 or float64", np.floating))
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{fn}: dtype must be {kind}, got {dtype!r}") from None
    if not np.issubdtype(dt, base):
        raise TypeError(f"{fn}: dtype must be {kind} ({names}), got {dt}")
    return dt
