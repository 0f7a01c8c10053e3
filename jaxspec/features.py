"""Model-ready feature plumbing: context splicing, per-utterance normalisation, dataset statistics.

``splice`` stacks neighbouring frames the way frame-wise DNN enhancers consume them;
``normalize`` is per-utterance mean/variance normalisation (CMVN); :class:`Standardizer` holds
dataset statistics (count, mean, sum of squared deviations) as a pytree, updated batch by batch
with the parallel form of Welford's algorithm, computed once and reused at inference.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _numerics

__all__ = ["splice", "normalize", "Standardizer"]

SPLICE_PADS = ("edge", "constant", "reflect")


def splice(X: jax.Array, *, left: int, right: int, pad: str = "edge") -> jax.Array:
    """Stack each frame with its ``left`` past and ``right`` future neighbours (context frames).

    Output row ``k * freq + f`` of frame ``t`` is ``X[..., f, t - left + k]`` for
    ``k = 0 .. left + right``: the context window ``[t - left, ..., t, ..., t + right]`` stacked
    oldest first, as Kaldi's ``splice-feats`` and frame-wise DNN enhancers do. Built from
    ``left + right + 1`` shifted slices of one padded array (no loop over frames, no gather).

    Args:
      X: features ``(..., freq, frames)`` (real or complex).
      left: past frames (static int >= 0).
      right: future frames (static int >= 0).
      pad: how frames outside the signal are filled (static): ``"edge"`` repeats the first/last
        frame (Kaldi's behaviour), ``"constant"`` uses zeros, ``"reflect"`` mirrors without
        repeating the edge frame (needs ``frames > max(left, right)``).

    Returns:
      ``(..., (left + 1 + right) * freq, frames)``, same dtype as ``X``.
    """
    fn = "splice"
    left = _checks.static_int(fn, "left", left, minimum=0)
    right = _checks.static_int(fn, "right", right, minimum=0)
    pad = _checks.choice(fn, "pad", pad, SPLICE_PADS)
    X = _checks.floating(fn, "X", X)
    if X.ndim < 2:
        raise ValueError(f"{fn}: X must have shape (..., freq, frames), got shape {X.shape}")
    T = X.shape[-1]
    if T < 1:
        raise ValueError(f"{fn}: X must have at least one frame, got shape {X.shape}")
    if pad == "reflect" and T <= max(left, right):
        raise ValueError(f"{fn}: pad='reflect' needs frames > max(left, right) = {max(left, right)}, got {T} "
                         f"frames; use pad='edge'")
    if left == right == 0:
        return X
    Xp = jnp.pad(X, [(0, 0)] * (X.ndim - 1) + [(left, right)], mode=pad)
    return jnp.concatenate([Xp[..., k:k + T] for k in range(left + 1 + right)], axis=-2)


def normalize(X: jax.Array, *, axis=-1, eps: float = 1e-5, subtract_mean: bool = True,
              divide_std: bool = True) -> jax.Array:
    """Per-utterance mean and variance normalisation: ``(X - mean) / sqrt(var + eps)`` over ``axis``.

    With the default ``axis=-1`` on features ``(..., freq, frames)`` this is CMVN: each feature
    row of each utterance gets zero mean and unit variance over time. The statistics are
    per example (never over the batch). A constant row gives 0 (value and gradient finite).
    The statistics are taken on ``X`` divided by a power of two near its peak (per group), so the
    result is right over the whole float32 range (``X`` of 1e20 or 1e-30); NaN or inf in a group
    makes that group's output NaN.

    Args:
      X: real features, e.g. ``(..., freq, frames)``.
      axis: axis or tuple of axes the statistics are taken over (static), e.g. ``(-2, -1)`` for one
        mean and variance per utterance.
      eps: added to the variance (> 0, may be traced).
      subtract_mean: subtract the mean (static).
      divide_std: divide by ``sqrt(var + eps)`` (static).

    Returns:
      Array of the same shape and dtype as ``X``.
    """
    fn = "normalize"
    X = _checks.real_signal(fn, "X", X)
    axes = _checks.normalize_axis(fn, "axis", axis, X.ndim)
    subtract_mean = _checks.static_bool(fn, "subtract_mean", subtract_mean)
    divide_std = _checks.static_bool(fn, "divide_std", divide_std)
    _checks.concrete_positive(fn, "eps", eps)
    if not (subtract_mean or divide_std):
        return X
    # X = s * Xs with s a power of two (stop_gradient: every line below equals its unscaled form
    # for any constant s, so the gradient is exact): no square leaves float32 range
    s = _numerics.pow2_scale(jnp.abs(X), axis=axes)
    Xs = X / s
    centred = Xs - jnp.mean(Xs, axis=axes, keepdims=True)
    out = centred if subtract_mean else Xs
    if not divide_std:
        return out * s
    var = jnp.mean(centred * centred, axis=axes, keepdims=True)
    # (X - mean) / sqrt(var_X + eps) == out / sqrt(var + eps / s**2) == out / hypot(std, sqrt(eps) / s)
    root_eps = jnp.sqrt(jnp.asarray(eps, X.dtype))
    return out / jnp.hypot(_numerics.safe_sqrt(var), root_eps / s)


def _stats_axes(shape: tuple, x_shape: tuple, fn: str) -> tuple[int, ...]:
    """Axes of ``x`` reduced for statistics of shape ``shape`` (aligned to the trailing dims)."""
    k = len(shape)
    if len(x_shape) < k:
        raise ValueError(f"{fn}: batch must have at least {k} dims to match the statistics shape {shape}, "
                         f"got shape {x_shape}")
    lead = len(x_shape) - k
    for i, s in enumerate(shape):
        if s != 1 and x_shape[lead + i] != s:
            raise ValueError(f"{fn}: batch shape {x_shape} does not match the statistics shape {shape} "
                             f"(trailing dims must equal it, or it must be 1 where the data is reduced)")
    return tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1)


class Standardizer(NamedTuple):
    """Running dataset statistics for feature standardisation (a pytree of three arrays).

    ``count``, ``mean`` and ``m2`` (sum of squared deviations from the mean) all have the
    *statistics shape*, aligned with the trailing dims of the data, with 1 where the data is
    reduced: ``(freq, 1)`` gives one mean and variance per frequency row of ``(..., freq, frames)``
    features, ``(1, 1)`` one global pair. Every leading (batch) dim is reduced too.

    Batches are folded in with the parallel (Chan et al.) form of Welford's update, so the result
    equals the statistics of all the data concatenated, without keeping it, and two
    ``Standardizer`` computed on different shards combine exactly with :meth:`merge`. The methods
    are pure and work under ``jit`` (the stats are an ordinary pytree argument)::

        stats = jaxspec.Standardizer.init((n_mels, 1))
        update = jax.jit(jaxspec.Standardizer.update)
        for batch in batches:                  # (batch, n_mels, frames)
            stats = update(stats, batch)
        features = stats.apply(log_mel_batch)  # zero mean, unit variance per mel band

    Save with ``np.savez(path, **stats._asdict())`` and restore with
    ``jaxspec.Standardizer(**np.load(path))``.

    ``count`` is kept in the statistics dtype (float32 by default: exact up to 2**24 elements
    per entry, with a relative rounding of ~1e-7 beyond that, which the update tolerates).

    Attributes:
      count: number of (weighted) elements seen per statistic, shape ``shape``.
      mean: running mean, shape ``shape``.
      m2: running sum of squared deviations from ``mean``, shape ``shape``.
    """

    count: jax.Array
    mean: jax.Array
    m2: jax.Array

    @classmethod
    def init(cls, shape, *, dtype=jnp.float32) -> "Standardizer":
        """Empty statistics of the given shape.

        Args:
          shape: statistics shape, aligned with the trailing data dims, 1 where reduced (e.g.
            ``(freq, 1)`` for per-row statistics of ``(..., freq, frames)``).
          dtype: float dtype of the statistics.

        Returns:
          A :class:`Standardizer` with zero count, mean and ``m2``.
        """
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        for s in shape:
            _checks.static_int("Standardizer.init", "shape", s, minimum=1)
        z = jnp.zeros(shape, dtype)
        return cls(z, z, z)

    def update(self, batch: jax.Array, *, mask: Optional[jax.Array] = None) -> "Standardizer":
        """Fold a batch into the statistics (parallel Welford combination).

        Args:
          batch: real data whose trailing dims match the statistics shape (``(..., freq, frames)``
            for shape ``(freq, 1)``).
          mask: optional weights broadcastable to ``batch`` (1 = valid, 0 = padding), e.g.
            ``(batch, 1, frames)`` for variable-length utterances.

        Returns:
          The updated :class:`Standardizer` (self is unchanged).
        """
        fn = "Standardizer.update"
        x = _checks.real_signal(fn, "batch", batch).astype(self.mean.dtype)
        axes = _stats_axes(self.mean.shape, x.shape, fn)
        lead = x.ndim - self.mean.ndim
        if mask is None:
            n_b = float(math.prod(x.shape[a] for a in axes))
            mean_b = jnp.mean(x, axis=axes, keepdims=True)
            d = x - mean_b
            m2_b = jnp.sum(d * d, axis=axes, keepdims=True)
            n_b = jnp.full(mean_b.shape, n_b, x.dtype)
        else:
            w = jnp.broadcast_to(_checks.real_signal(fn, "mask", mask).astype(x.dtype), x.shape)
            n_b = jnp.sum(w, axis=axes, keepdims=True)
            mean_b = _numerics.safe_div(jnp.sum(w * x, axis=axes, keepdims=True), n_b)
            d = x - mean_b
            m2_b = jnp.sum(w * d * d, axis=axes, keepdims=True)
        squeeze = tuple(range(lead))
        other = Standardizer(jnp.squeeze(n_b, squeeze), jnp.squeeze(mean_b, squeeze), jnp.squeeze(m2_b, squeeze))
        return self.merge(other)

    def merge(self, other: "Standardizer") -> "Standardizer":
        """Combine two sets of statistics as if their data had been concatenated.

        Args:
          other: a :class:`Standardizer` with the same shape.

        Returns:
          The combined :class:`Standardizer`; an empty side (count 0) contributes nothing.
        """
        n = self.count + other.count
        delta = other.mean - self.mean
        frac = _numerics.safe_div(other.count, n)
        mean = self.mean + delta * frac
        m2 = self.m2 + other.m2 + delta * delta * self.count * frac
        return Standardizer(n, mean, m2)

    @property
    def variance(self) -> jax.Array:
        """Population variance ``m2 / count`` (0 where nothing was seen), shape ``shape``."""
        return _numerics.safe_div(self.m2, self.count)

    @property
    def std(self) -> jax.Array:
        """Population standard deviation, shape ``shape``."""
        return _numerics.safe_sqrt(self.variance)

    def _check_seen(self, fn: str) -> None:
        """Refuse statistics that never saw data (count 0), when the count is concrete: they would
        scale by ``1 / sqrt(eps)`` (x316 for the default eps) without a word."""
        if _checks.is_traced(self.count):
            return
        try:
            count = np.asarray(self.count)
        except Exception:  # traced inside a container
            return
        if count.size and np.any(count <= 0):
            empty = "all" if np.all(count <= 0) else f"{int(np.sum(count <= 0))} of {count.size}"
            raise ValueError(f"{fn}: the statistics are empty ({empty} entries have count 0): fold data in with "
                             f"Standardizer.update (or merge) before applying them, or restore saved statistics")

    def apply(self, X: jax.Array, *, eps: float = 1e-5) -> jax.Array:
        """Standardise: ``(X - mean) / sqrt(variance + eps)``.

        Raises ``ValueError`` when the statistics are concrete and some entry has seen no data
        (``count == 0``); under ``jit`` with traced statistics that check cannot run.

        Args:
          X: real data whose trailing dims broadcast against the statistics shape.
          eps: added to the variance (> 0).

        Returns:
          Array of the broadcast shape, in the dtype of ``X``.
        """
        X = _checks.real_signal("Standardizer.apply", "X", X)
        self._check_seen("Standardizer.apply")
        return (X - self.mean.astype(X.dtype)) * jax.lax.rsqrt(self.variance.astype(X.dtype) + jnp.asarray(eps, X.dtype))

    def invert(self, X: jax.Array, *, eps: float = 1e-5) -> jax.Array:
        """Undo :meth:`apply`: ``X * sqrt(variance + eps) + mean`` (e.g. for standardised targets).

        Raises ``ValueError`` for empty statistics, as :meth:`apply` does.

        Args:
          X: standardised data broadcasting against the statistics shape.
          eps: the ``eps`` given to :meth:`apply`.

        Returns:
          Array of the broadcast shape, in the dtype of ``X``.
        """
        X = _checks.real_signal("Standardizer.invert", "X", X)
        self._check_seen("Standardizer.invert")
        return X * jnp.sqrt(self.variance.astype(X.dtype) + jnp.asarray(eps, X.dtype)) + self.mean.astype(X.dtype)
