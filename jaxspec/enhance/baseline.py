"""A classical, training-free enhancer to compare the learned one against: Wiener-style spectral
gating with a noise floor estimated from the quietest frames of each utterance."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

import jaxspec as js


def spectral_gate(Y: jax.Array, *, valid: jax.Array | None = None, quantile: float = 0.2, smooth: int = 3,
                  floor: float = 0.1) -> tuple[jax.Array, jax.Array]:
    """Wiener gain from a per-utterance noise estimate, applied to a mixture STFT.

    The noise power of each frequency is estimated from the ``quantile`` of its power over the
    frames, bias-corrected as if the noise-only bins were exponentially distributed (a
    minimum-statistics style estimate that assumes roughly stationary noise and speech in fewer
    than ``1 - quantile`` of the frames); the a
    priori SNR is ``max(|Y|^2 / noise - 1, 0)`` averaged over ``2 * smooth + 1`` frames, and the
    gain is ``snr / (1 + snr)`` floored at ``floor``.

    Args:
      Y: mixture STFT ``(..., freq, frames)``.
      valid: optional boolean ``(..., frames)``: which frames belong to the utterance (padding
        frames are left out of the noise estimate).
      quantile: share of frames that estimate the noise, in (0, 1] (static).
      smooth: half-width in frames of the SNR smoothing (static).
      floor: minimum gain (attenuation limit; 0.1 is -20 dB).

    Returns:
      ``(mask, enhanced_stft)``, each ``(..., freq, frames)``.
    """
    P = js.power(Y)
    v = jnp.ones(P.shape, bool) if valid is None else jnp.broadcast_to(jnp.asarray(valid, bool)[..., None, :], P.shape)
    thr = jnp.nanquantile(jnp.where(v, P, jnp.nan), quantile, axis=-1, keepdims=True)
    # the q-quantile of an exponential (the power of one bin of Gaussian noise) is -log(1 - q) times its mean
    noise = jnp.nan_to_num(thr, nan=0.0) / -math.log1p(-quantile)
    snr = jnp.maximum(P / jnp.maximum(noise, 1e-12) - 1.0, 0.0)
    if smooth > 0:
        w = 2 * smooth + 1
        padded = jnp.pad(snr, [(0, 0)] * (snr.ndim - 1) + [(smooth, smooth)], mode="edge")
        c = jnp.cumsum(padded, axis=-1)
        c = jnp.concatenate([jnp.zeros_like(c[..., :1]), c], axis=-1)
        snr = (c[..., w:] - c[..., :-w]) / w
    mask = jnp.maximum(snr / (1.0 + snr), floor)
    return mask, js.masks.apply_mask(Y, mask)
