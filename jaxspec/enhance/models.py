"""Flax NNX mask estimators of the enhancement example.

``MaskDNN`` is the classic frame-wise DNN (Wang & Wang's IRM-estimating DNN): spliced, normalised
log-magnitude frames in, one mask frame out. :func:`make_model` builds the model a
:class:`~jaxspec.enhance.config.TrainConfig` names.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

# compressed cIRM: K * tanh(head) lies in (-K, K), the range of masks.cirm(..., K=K, C=C)
CIRM_K = 10.0
CIRM_C = 0.1


class MaskDNN(nnx.Module):
    """Frame-wise mask estimator: ``layers`` dense layers (ReLU, LayerNorm) and a mask head.

    Every frame is processed independently from its spliced context, so the model is a stack of
    matmuls over ``batch * frames`` rows (fast on any backend) and has no recurrence.

    Args:
      n_in: input features per frame, ``(2 * context + 1) * freq``.
      n_freq: mask bins per frame (``n_fft // 2 + 1``).
      hidden: units per hidden layer.
      layers: number of hidden layers (>= 1).
      head: ``"sigmoid"`` (real masks in [0, 1]: IRM, PSM, IBM) or ``"cirm"`` (two channels, real and
        imaginary parts of the compressed cIRM, ``CIRM_K * tanh``).
      rngs: ``nnx.Rngs`` for the initialisation.

    Call:
      ``model(features)`` with ``features`` ``(..., n_in, frames)`` returns the mask
      ``(..., n_freq, frames)`` for the sigmoid head, ``(..., 2, n_freq, frames)`` for ``"cirm"``.
    """

    def __init__(self, n_in: int, n_freq: int, *, hidden: int = 512, layers: int = 3, head: str = "sigmoid",
                 rngs: nnx.Rngs):
        if head not in ("sigmoid", "cirm"):
            raise ValueError(f"MaskDNN: head must be 'sigmoid' or 'cirm', got {head!r}")
        if layers < 1:
            raise ValueError(f"MaskDNN: layers must be >= 1, got {layers}")
        self.n_in, self.n_freq, self.head = n_in, n_freq, head
        dims = [n_in] + [hidden] * layers
        self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(dims[:-1], dims[1:])])
        self.norms = nnx.List([nnx.LayerNorm(b, rngs=rngs) for b in dims[1:]])
        n_out = n_freq * (2 if head == "cirm" else 1)
        self.out = nnx.Linear(hidden, n_out, rngs=rngs)

    def __call__(self, features: jax.Array) -> jax.Array:
        x = jnp.swapaxes(features, -1, -2)  # (..., frames, n_in)
        for lin, norm in zip(self.hidden, self.norms):
            x = jax.nn.relu(norm(lin(x)))
        y = self.out(x)  # (..., frames, n_out)
        if self.head == "sigmoid":
            return jnp.swapaxes(jax.nn.sigmoid(y), -1, -2)
        y = CIRM_K * jnp.tanh(y)
        y = y.reshape(y.shape[:-1] + (2, self.n_freq))  # (..., frames, 2, freq)
        return jnp.moveaxis(y, -3, -1)  # (..., 2, freq, frames)


def n_features(cfg) -> int:
    """Input features per frame for a config: ``(2 * context + 1) * (n_fft // 2 + 1)``."""
    return (2 * cfg.context + 1) * (cfg.n_fft // 2 + 1)


def make_model(cfg, *, rngs: nnx.Rngs) -> MaskDNN:
    """The model ``cfg`` (a :class:`~jaxspec.enhance.config.TrainConfig`) names, freshly initialised."""
    if cfg.model != "dnn":
        raise ValueError(f"make_model: unknown model {cfg.model!r}")
    return MaskDNN(n_features(cfg), cfg.n_fft // 2 + 1, hidden=cfg.hidden, layers=cfg.layers,
                   head="cirm" if cfg.target == "cirm" else "sigmoid", rngs=rngs)
