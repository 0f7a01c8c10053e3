"""Flax NNX mask estimators of the enhancement example.

``MaskDNN`` is the classic frame-wise DNN (Wang & Wang's IRM-estimating DNN): spliced, normalised
log-magnitude frames in, one mask frame out. ``MaskGRU`` is a small causal recurrent mask
estimator (a GRU over frames): each output frame depends on the current and past frames only, so
a file's result does not change with what follows it (trailing silence, a longer recording).
``MaskUNet`` is a small 2-D U-Net over the whole (freq, frames) plane, for dereverberation, where
a mask needs a long stretch of time. :func:`make_model` builds the model a
:class:`~jaxspec.enhance.config.TrainConfig` names.

With ``feature_norm="fixed"`` a model starts with a :class:`FeatureNorm`: per-feature mean and
standard deviation measured on training mixtures before the first step (``jaxspec.Standardizer``)
and stored with the weights, so the features of a frame depend on that frame alone and are the
same in training, evaluation and ``jaxspec enhance``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

# compressed cIRM: K * tanh(head) lies in (-K, K), the range of masks.cirm(..., K=K, C=C)
CIRM_K = 10.0
CIRM_C = 0.1


def _check_head(*, name: str, head: str, layers: int = 1) -> None:
    if head not in ("sigmoid", "cirm"):
        raise ValueError(f"{name}: head must be 'sigmoid' or 'cirm', got {head!r}")
    if layers < 1:
        raise ValueError(f"{name}: layers must be >= 1, got {layers}")


class FeatureStat(nnx.Variable):
    """Statistics measured on the training data (not trained, saved with the model)."""


class FeatureNorm(nnx.Module):
    """Fixed standardisation per input feature of ``x`` ``(..., n_in, frames)``, as
    ``jaxspec.Standardizer.apply`` does it: ``(x - mean) / sqrt(variance + 1e-5)``.

    ``mean`` and ``variance`` (``(n_in, 1)``) are :class:`FeatureStat` variables, not parameters:
    the optimiser leaves them alone; :meth:`set` takes them from a ``jaxspec.Standardizer``.
    """

    EPS = 1e-5

    def __init__(self, n_in: int):
        self.mean = FeatureStat(jnp.zeros((n_in, 1), jnp.float32))
        self.variance = FeatureStat(jnp.ones((n_in, 1), jnp.float32))

    def set(self, stats) -> None:
        """Take the mean and variance of ``stats``, a ``jaxspec.Standardizer`` of shape ``(n_in, 1)``."""
        shape = self.mean.get_value().shape
        self.mean.set_value(jnp.asarray(stats.mean, jnp.float32).reshape(shape))
        self.variance.set_value(jnp.asarray(stats.variance, jnp.float32).reshape(shape))

    def __call__(self, x: jax.Array) -> jax.Array:
        return (x - self.mean[...]) * jax.lax.rsqrt(self.variance[...] + self.EPS)


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
      norm: start with a :class:`FeatureNorm` (``feature_norm="fixed"``).
      rngs: ``nnx.Rngs`` for the initialisation.

    Call:
      ``model(features)`` with ``features`` ``(..., n_in, frames)`` returns the mask
      ``(..., n_freq, frames)`` for the sigmoid head, ``(..., 2, n_freq, frames)`` for ``"cirm"``.
    """

    def __init__(self, n_in: int, n_freq: int, *, hidden: int = 512, layers: int = 3, head: str = "sigmoid",
                 norm: bool = False, rngs: nnx.Rngs):
        _check_head(name="MaskDNN", head=head, layers=layers)
        self.norm = FeatureNorm(n_in) if norm else None
        self.n_in, self.n_freq, self.head = n_in, n_freq, head
        dims = [n_in] + [hidden] * layers
        self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(dims[:-1], dims[1:])])
        self.norms = nnx.List([nnx.LayerNorm(b, rngs=rngs) for b in dims[1:]])
        n_out = n_freq * (2 if head == "cirm" else 1)
        self.out = nnx.Linear(hidden, n_out, rngs=rngs)

    def __call__(self, features: jax.Array) -> jax.Array:
        if self.norm is not None:
            features = self.norm(features)
        x = jnp.swapaxes(features, -1, -2)  # (..., frames, n_in)
        for lin, norm in zip(self.hidden, self.norms):
            x = jax.nn.relu(norm(lin(x)))
        return _head(self.out(x), self.head, self.n_freq)


def _head(y: jax.Array, head: str, n_freq: int) -> jax.Array:
    """Frame-major head outputs ``(..., frames, n_out)`` -> the mask layout ``(..., [2,] freq, frames)``."""
    if head == "sigmoid":
        return jnp.swapaxes(jax.nn.sigmoid(y), -1, -2)
    y = CIRM_K * jnp.tanh(y)
    y = y.reshape(y.shape[:-1] + (2, n_freq))  # (..., frames, 2, freq)
    return jnp.moveaxis(y, -3, -1)  # (..., 2, freq, frames)


class MaskGRU(nnx.Module):
    """Causal recurrent mask estimator: a dense input layer (LayerNorm, ReLU), ``layers`` GRU layers
    running forward over frames, and a mask head.

    Output frame ``t`` depends on input frames ``0..t`` only, so audio appended after a point
    cannot change the mask before it, and the model can run on a stream.

    Args:
      n_in: input features per frame (``(left + 1) * freq`` with causal splicing, ``freq`` without).
      n_freq: mask bins per frame (``n_fft // 2 + 1``).
      hidden: GRU units (and width of the input layer).
      layers: number of GRU layers (>= 1).
      head: ``"sigmoid"`` or ``"cirm"``, as for :class:`MaskDNN`.
      norm: start with a :class:`FeatureNorm` (``feature_norm="fixed"``).
      rngs: ``nnx.Rngs``.

    Call:
      ``model(features)`` with ``features`` ``(..., n_in, frames)`` returns the mask
      ``(..., n_freq, frames)`` for the sigmoid head, ``(..., 2, n_freq, frames)`` for ``"cirm"``.
    """

    def __init__(self, n_in: int, n_freq: int, *, hidden: int = 256, layers: int = 2, head: str = "sigmoid",
                 norm: bool = False, rngs: nnx.Rngs):
        _check_head(name="MaskGRU", head=head, layers=layers)
        self.n_in, self.n_freq, self.head, self.hidden = n_in, n_freq, head, hidden
        self.norm = FeatureNorm(n_in) if norm else None
        self.inp = nnx.Linear(n_in, hidden, rngs=rngs)
        self.inp_norm = nnx.LayerNorm(hidden, rngs=rngs)
        self.rnns = nnx.List([nnx.RNN(nnx.GRUCell(hidden, hidden, rngs=rngs), rngs=False) for _ in range(layers)])
        self.out = nnx.Linear(hidden, n_freq * (2 if head == "cirm" else 1), rngs=rngs)

    def __call__(self, features: jax.Array) -> jax.Array:
        return self.step(features, self.initial_carry(features.shape[:-2]))[0]

    def initial_carry(self, batch_shape: tuple = ()) -> jax.Array:
        """The recurrent state before the first frame: zeros ``(*batch_shape, layers, hidden)``."""
        return jnp.zeros(tuple(batch_shape) + (len(self.rnns), self.hidden), jnp.float32)

    def step(self, features: jax.Array, carry: jax.Array, n_valid: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """Run a block of frames from a recurrent state: ``(mask, carry)``.

        ``features`` ``(..., n_in, frames)`` (any number of frames, one or more), ``carry`` from
        :meth:`initial_carry` or the previous block. Blocks run one after another give the
        output of one call on the whole sequence (the model is causal). With ``n_valid`` (an int
        scalar, possibly traced) only the first ``n_valid`` frames are real: the returned carry is
        the state after them (the outputs of the other frames are meaningless).
        """
        if self.norm is not None:
            features = self.norm(features)
        batch = features.shape[:-2]
        x = jnp.swapaxes(features, -1, -2).reshape((-1,) + features.shape[-1:] + features.shape[-2:-1])
        x = jax.nn.relu(self.inp_norm(self.inp(x)))  # (n, frames, hidden)
        h = carry.reshape((-1,) + carry.shape[-2:])
        new = []
        lengths = None if n_valid is None else jnp.broadcast_to(jnp.asarray(n_valid, jnp.int32), x.shape[:1])
        for i, rnn in enumerate(self.rnns):
            c, y = rnn(x, initial_carry=h[:, i].astype(x.dtype), return_carry=True, seq_lengths=lengths)
            x = x + y  # residual GRU layers
            new.append(c)
        y = self.out(x)
        carry = jnp.stack(new, axis=1).reshape(carry.shape)
        return _head(y.reshape(batch + y.shape[1:]), self.head, self.n_freq), carry


def n_features(cfg) -> int:
    """Input features per frame for a config: ``(2 * context + 1) * (n_fft // 2 + 1)`` for the DNN,
    ``(context + 1) * (n_fft // 2 + 1)`` for the causal GRU (past frames only)."""
    frames = cfg.context + 1 if cfg.model == "gru" else 2 * cfg.context + 1
    return frames * (cfg.n_fft // 2 + 1)


def make_model(cfg, *, rngs: nnx.Rngs) -> nnx.Module:
    """The model ``cfg`` (a :class:`~jaxspec.enhance.config.TrainConfig`) names, freshly initialised:
    ``"dnn"`` (:class:`MaskDNN`), ``"gru"`` (:class:`MaskGRU`, ``hidden`` units, ``layers``
    layers) or ``"unet"`` (:class:`MaskUNet`, ``unet_channels``)."""
    head = "cirm" if cfg.target == "cirm" else "sigmoid"
    norm = cfg.feature_norm == "fixed"
    if cfg.model == "dnn":
        return MaskDNN(n_features(cfg), cfg.n_fft // 2 + 1, hidden=cfg.hidden, layers=cfg.layers, head=head,
                       norm=norm, rngs=rngs)
    if cfg.model == "gru":
        return MaskGRU(n_features(cfg), cfg.n_fft // 2 + 1, hidden=cfg.hidden, layers=cfg.layers, head=head,
                       norm=norm, rngs=rngs)
    if cfg.model == "unet":
        return MaskUNet(cfg.n_fft // 2 + 1, channels=cfg.unet_channels, head=head, norm=norm, rngs=rngs)
    raise ValueError(f"make_model: unknown model {cfg.model!r}")


class MaskUNet(nnx.Module):
    """A small 2-D U-Net over ``(freq, frames)`` (channels-last convolutions), mask out.

    ``levels`` encoder stages, each a 3x3 convolution with stride 2 in frequency and time (the
    receptive field grows to tens of frames: what dereverberation needs) and a 3x3 convolution;
    the decoder mirrors them with transposed convolutions and skip connections. Inputs are padded
    to a multiple of ``2 ** levels`` in both axes and the output cropped back, so any STFT size
    works.

    Args:
      n_freq: mask bins per frame (``n_fft // 2 + 1``).
      channels: channels per level, e.g. ``(16, 32, 64)``.
      in_channels: feature channels per bin (1: normalised log power).
      head: ``"sigmoid"`` (real masks in [0, 1]) or ``"cirm"`` (two channels, ``CIRM_K * tanh``).
      norm: start with a :class:`FeatureNorm` over the frequency rows (one input channel only).
      rngs: ``nnx.Rngs``.

    Call:
      ``model(features)`` with ``features`` ``(..., freq, frames)`` (one channel) or
      ``(..., freq, frames, in_channels)`` returns the mask ``(..., n_freq, frames)`` for the
      sigmoid head, ``(..., 2, n_freq, frames)`` for ``"cirm"``.
    """

    def __init__(self, n_freq: int, *, channels: tuple = (16, 32, 64), in_channels: int = 1, head: str = "sigmoid",
                 norm: bool = False, rngs: nnx.Rngs):
        _check_head(name="MaskUNet", head=head)
        channels = tuple(int(c) for c in channels)
        if len(channels) < 2 or min(channels) < 1:
            raise ValueError(f"MaskUNet: channels must list >= 2 positive widths, got {channels}")
        self.n_freq, self.head, self.in_channels = n_freq, head, in_channels
        self.norm = FeatureNorm(n_freq) if norm and in_channels == 1 else None
        self.levels = len(channels) - 1
        conv = lambda a, b, **kw: nnx.Conv(a, b, kernel_size=(3, 3), padding="SAME", rngs=rngs, **kw)
        self.stem = conv(in_channels, channels[0])
        self.down = nnx.List([conv(a, b, strides=(2, 2)) for a, b in zip(channels[:-1], channels[1:])])
        self.down_mix = nnx.List([conv(b, b) for b in channels[1:]])
        self.up = nnx.List([nnx.ConvTranspose(b, a, kernel_size=(3, 3), strides=(2, 2), padding="SAME", rngs=rngs)
                            for a, b in zip(channels[:-1], channels[1:])])
        self.up_mix = nnx.List([conv(2 * a, a) for a in channels[:-1]])
        self.out = nnx.Conv(channels[0], 2 if head == "cirm" else 1, kernel_size=(1, 1), rngs=rngs)

    def __call__(self, features: jax.Array) -> jax.Array:
        if self.norm is not None:
            features = self.norm(features)
        x = features[..., None] if self.in_channels == 1 and features.shape[-1] != 1 else features
        batch = x.shape[:-3]
        F, T = x.shape[-3], x.shape[-2]
        x = x.reshape((-1,) + x.shape[-3:])
        m = 2 ** self.levels
        x = jnp.pad(x, ((0, 0), (0, -F % m), (0, -T % m), (0, 0)))
        h = jax.nn.gelu(self.stem(x))
        skips = []
        for down, mix in zip(self.down, self.down_mix):
            skips.append(h)
            h = jax.nn.gelu(mix(jax.nn.gelu(down(h))))
        for up, mix, skip in zip(reversed(self.up), reversed(self.up_mix), reversed(skips)):
            h = jax.nn.gelu(up(h))
            h = jax.nn.gelu(mix(jnp.concatenate([h, skip], axis=-1)))
        y = self.out(h)[:, :F, :T, :]  # (n, F, T, c)
        y = y.reshape(batch + y.shape[1:])
        if self.head == "sigmoid":
            return jax.nn.sigmoid(y[..., 0])
        return CIRM_K * jnp.tanh(jnp.moveaxis(y, -1, -3))  # (..., 2, F, T)
