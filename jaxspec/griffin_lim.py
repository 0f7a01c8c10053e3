"""Griffin-Lim phase reconstruction with momentum (fast Griffin-Lim), as one ``lax.fori_loop``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .stft import _analysis, _resolve, _synthesis_frames_first, _synthesis_window, n_frames as _n_frames
from .windows import WindowSpec

__all__ = ["griffin_lim"]

INITS = ("random", None)


def _unit_or_zero(a: jax.Array) -> jax.Array:
    """``a / |a|``, and 0 (with gradient 0) where ``a == 0`` (librosa: ``a / (|a| + tiny)``)."""
    mag2 = a.real * a.real + a.imag * a.imag
    ok = mag2 > 0
    inv = jax.lax.rsqrt(jnp.where(ok, mag2, jnp.ones_like(mag2)))
    return jnp.where(ok, a * inv, jnp.zeros_like(a))


def griffin_lim(
    magnitude: jax.Array,
    *,
    n_iter: int = 32,
    n_fft: int | None = None,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: WindowSpec = "hann",
    center: bool = True,
    length: int | None = None,
    momentum=0.99,
    init: str | None = "random",
    key: jax.Array | None = None,
    init_phase: jax.Array | None = None,
) -> jax.Array:
    """Reconstruct a waveform from an STFT magnitude with (fast) Griffin-Lim.

    Same iteration as ``librosa.griffinlim`` (Perraudin et al.'s fast Griffin-Lim): each step
    inverts ``magnitude * angles``, re-analyses the signal to ``rebuilt``, and sets
    ``angles = unit(rebuilt - momentum / (1 + momentum) * rebuilt_previous)``; ``momentum=0`` is
    the classic algorithm. The loop is a ``lax.fori_loop`` (compiled once, whatever ``n_iter``)
    and works on any leading batch dims. Where the update is exactly zero the phasor is 0 (as
    librosa's ``a / (|a| + tiny)``).

    Args:
      magnitude: non-negative real ``(..., freq, frames)``; float32 (complex64 inside) or float64.
        A concrete array with a negative entry raises ``ValueError``; a traced one cannot be
        checked and is used as given (a negative entry then acts as a phase flip of pi).
      n_iter: number of iterations (static int >= 1).
      n_fft, hop_length, win_length, window, center: STFT parameters, as in :func:`jaxspec.stft`
        (``n_fft`` defaults to ``2 * (freq - 1)``). The analysis pads with zeros (librosa's
        ``pad_mode="constant"``).
      length: static output length in samples; it must give the same frame count as
        ``magnitude``. Default ``hop_length * (frames - 1)`` (centred).
      momentum: ``>= 0`` (may be traced); ``0.99`` as librosa. Negative raises ``ValueError``,
        ``>= 1`` warns (it can diverge) when concrete.
      init: ``"random"``: phases uniform in ``[-pi, pi)`` drawn from ``key`` (one per bin, over
        all batch dims); ``None``: zero phase (librosa's ``init=None``). Ignored when
        ``init_phase`` is given.
      key: PRNG key, required for ``init="random"`` without ``init_phase``.
      init_phase: initial phase, e.g. the noisy STFT's phase: real radians or complex (only its
        direction is used; 0 -> zero phase), broadcastable to ``magnitude.shape``.

    Returns:
      Real ``(..., samples)`` waveform (float32 for float32 input), ``samples = length`` or
      ``hop_length * (frames - 1)``.
    """
    fn = "griffin_lim"
    magnitude = _checks.real_signal(fn, "magnitude", magnitude)
    if magnitude.ndim < 2:
        raise ValueError(f"{fn}: magnitude must have shape (..., freq, frames), got {magnitude.shape}")
    if not _checks.is_traced(magnitude) and _checks._is_concrete(magnitude) and bool(jnp.any(magnitude < 0)):
        raise ValueError(f"{fn}: magnitude must be non-negative (an STFT magnitude), got a minimum of "
                         f"{float(jnp.min(magnitude)):.4g}; pass jaxspec.magnitude(S) or abs(...)")
    freq, T = magnitude.shape[-2:]
    n_iter = _checks.static_int(fn, "n_iter", n_iter, minimum=1)
    if n_fft is None:
        if freq < 2:
            raise ValueError(f"{fn}: cannot infer n_fft from magnitude.shape[-2]={freq}; pass n_fft")
        n_fft = 2 * (freq - 1)
    n_fft, hop, win_length = _resolve(fn, n_fft, hop_length, win_length)
    if n_fft // 2 + 1 != freq:
        raise ValueError(f"{fn}: n_fft={n_fft} expects magnitude.shape[-2] == {n_fft // 2 + 1}, got {freq}")
    center = _checks.static_bool(fn, "center", center)
    length = _checks.static_int(fn, "length", length, minimum=1, allow_none=True)
    init = _checks.choice(fn, "init", init, INITS)
    if length is not None:
        got = _n_frames(length, n_fft=n_fft, hop_length=hop, center=center)
        if got != T:
            raise ValueError(f"{fn}: length={length} gives {got} STFT frames, but magnitude has {T}; "
                             f"use length in ({(T - 1) * hop - hop}, {(T - 1) * hop}] or None")
    if _checks.is_traced(momentum) or (isinstance(momentum, jax.Array) and not _checks._is_concrete(momentum)):
        pass
    else:
        m = np.asarray(momentum)
        if not np.issubdtype(m.dtype, np.number) or m.ndim:
            raise TypeError(f"{fn}: momentum must be a real scalar, got {momentum!r}")
        if not np.isfinite(m) or m < 0:
            raise ValueError(f"{fn}: momentum must be finite and >= 0, got {momentum!r}")
        if m >= 1:
            _checks.warn(f"{fn}: momentum={float(m)} >= 1 can make Griffin-Lim unstable", stacklevel=3)
    rdt = magnitude.dtype
    cdt = jnp.result_type(rdt, jnp.complex64)
    if init_phase is not None:
        ph = jnp.asarray(init_phase)
        if jnp.iscomplexobj(ph):
            angles = _unit_or_zero(ph.astype(cdt))
            angles = jnp.where(angles == 0, jnp.ones((), cdt), angles)
        else:
            ph = _checks.real_signal(fn, "init_phase", ph).astype(rdt)
            angles = jax.lax.complex(jnp.cos(ph), jnp.sin(ph)).astype(cdt)
        try:
            angles = jnp.broadcast_to(angles, magnitude.shape)
        except ValueError:
            raise ValueError(f"{fn}: init_phase of shape {jnp.shape(init_phase)} does not broadcast to magnitude "
                             f"{magnitude.shape}") from None
    elif init == "random":
        if key is None:
            raise ValueError(f"{fn}: init='random' needs a PRNG key (key=jax.random.key(0)); or use init=None "
                             f"(zero phase) or init_phase=...")
        ph = jax.random.uniform(key, magnitude.shape, rdt, minval=-jnp.pi, maxval=jnp.pi)
        angles = jax.lax.complex(jnp.cos(ph), jnp.sin(ph)).astype(cdt)
    else:
        angles = jnp.ones(magnitude.shape, cdt)

    w = _synthesis_window(fn, window, n_fft, hop, win_length)
    beta = jnp.asarray(momentum, rdt) / (1 + jnp.asarray(momentum, rdt))
    # the loop runs frames first, (..., frames, freq), the layout the FFTs read and write: no
    # transpose per iteration, only of the magnitude and the initial phases, once
    mag = jnp.swapaxes(magnitude.astype(rdt), -1, -2)
    angles = jnp.swapaxes(angles, -1, -2)

    def body(_, carry):
        angles, prev, _ = carry
        y = _synthesis_frames_first(mag * angles, n_fft, hop, w, center, length)
        rebuilt = _analysis(y, n_fft, hop, w, center, "constant")
        return _unit_or_zero(rebuilt - beta * prev), rebuilt, y

    # n_iter + 1 passes, the last one's signal returned: one iSTFT in the program, not two (less
    # to compile), for one unused STFT at run time
    n_out = length if length is not None else n_fft + hop * (T - 1) - (2 * (n_fft // 2) if center else 0)
    y0 = jnp.zeros(magnitude.shape[:-2] + (n_out,), rdt)
    _, _, y = jax.lax.fori_loop(0, n_iter + 1, body, (angles, jnp.zeros(mag.shape, cdt), y0))
    return y
