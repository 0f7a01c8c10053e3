"""Elementwise views of a complex STFT: magnitude, phase, power, polar form.

All are finite in value and gradient at exact zeros (``jnp.abs`` and ``jnp.angle`` of a complex
zero have NaN gradients in JAX).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import _checks, _numerics


def magnitude(S: jax.Array) -> jax.Array:
    """``|S|``, with value 0 and gradient 0 at ``S == 0``.

    Args:
      S: complex (or real) array, e.g. an STFT ``(..., freq, frames)``.

    Returns:
      Real array of the same shape (complex64 -> float32).
    """
    return _numerics.safe_abs(_checks.floating("magnitude", "S", S))


def phase(S: jax.Array) -> jax.Array:
    """Angle of ``S`` in radians, in (-pi, pi]; 0 with gradient 0 at ``S == 0``.

    Args:
      S: complex array, e.g. an STFT ``(..., freq, frames)``.

    Returns:
      Real array of the same shape.
    """
    return _numerics.safe_angle(_checks.floating("phase", "S", S))


def power(S: jax.Array) -> jax.Array:
    """``|S| ** 2`` computed as ``re**2 + im**2`` (smooth everywhere).

    Args:
      S: complex (or real) array ``(..., freq, frames)``.

    Returns:
      Real array of the same shape.
    """
    S = _checks.floating("power", "S", S)
    if jnp.iscomplexobj(S):
        return S.real * S.real + S.imag * S.imag
    return S * S


def polar(mag: jax.Array, phase: jax.Array) -> jax.Array:
    """Complex array from magnitude and phase: ``mag * exp(1j * phase)``.

    Args:
      mag: real ``(..., freq, frames)``.
      phase: real, broadcastable with ``mag`` (radians).

    Returns:
      Complex array of the broadcast shape (float32 -> complex64).
    """
    mag = _checks.real_signal("polar", "mag", mag)
    ph = _checks.real_signal("polar", "phase", phase)
    dt = jnp.result_type(mag.dtype, ph.dtype)
    mag, ph = mag.astype(dt), ph.astype(dt)
    return jax.lax.complex(mag * jnp.cos(ph), mag * jnp.sin(ph))
