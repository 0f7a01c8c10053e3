"""Flax NNX mask estimators of the enhancement example.

``MaskDNN`` is the classic frame-wise DNN (Wang & Wang's IRM-estimating DNN): spliced, normalised
log-magnitude frames in, one mask frame out. ``MaskGRU`` is a small causal recurrent mask
estimator (a GRU over frames): each output frame depends on the current and past frames only, so
a file's result does not change with what follows it (trailing silence, a longer recording).
``MaskUNet`` is a small 2-D U-Net over the whole (freq, frames) plane, for dereverberation, where
a mask needs a long stretch of time. ``BandDeepFilter`` is a small causal model of the GTCRN /
DeepFilterNet family (ERB band gains and a deep filter on the low bins, from
:mod:`jaxspec.bands`) that takes the STFT and returns the enhanced STFT. :func:`make_model` builds the model a
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
# the band model's causal noise floor (floor_gate): time constant in seconds of the smoothing of
# the bin powers in dB, and how fast the floor may rise
FLOOR_TAU = 0.05
FLOOR_RISE_DB_PER_S = 5.0


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
        new = jnp.stack(new, axis=1).reshape(carry.shape)
        # no real frame: the state of before the block (the RNN would return its last slot's)
        carry = new if n_valid is None else jnp.where(jnp.asarray(n_valid) > 0, new, carry)
        return _head(y.reshape(batch + y.shape[1:]), self.head, self.n_freq), carry


def n_features(cfg) -> int:
    """Input features per frame for a config: ``(2 * context + 1) * (n_fft // 2 + 1)`` for the DNN,
    ``(context + 1) * (n_fft // 2 + 1)`` for the causal GRU (past frames only)."""
    frames = cfg.context + 1 if cfg.model == "gru" else 2 * cfg.context + 1
    return frames * (cfg.n_fft // 2 + 1)


def make_model(cfg, *, rngs: nnx.Rngs) -> nnx.Module:
    """The model ``cfg`` (a :class:`~jaxspec.enhance.config.TrainConfig`) names, freshly initialised:
    ``"dnn"`` (:class:`MaskDNN`), ``"gru"`` (:class:`MaskGRU`, ``hidden`` units, ``layers``
    layers), ``"unet"`` (:class:`MaskUNet`, ``unet_channels``) or ``"band"`` (:class:`BandDeepFilter`,
    ``hidden`` units in ``layers`` grouped GRU layers)."""
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
    if cfg.model == "band":
        return BandDeepFilter(sr=cfg.sr, n_fft=cfg.n_fft, hop_length=cfg.hop_length, hidden=cfg.hidden,
                              layers=cfg.layers, floor_gate=cfg.floor_gate, rngs=rngs)
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


class BandDeepFilter(nnx.Module):
    """A small causal band model of the GTCRN / DeepFilterNet family on the complex STFT.

    Per frame: ERB band powers in dB (``jaxspec.bands.band_power``) and, for the lowest ``df_bins``
    bins, log magnitude and unit phase, each normalised by a causal running mean over frames
    (``jaxspec.bands.erb_norm`` of the dB values, time constant ``tau`` seconds) whose state
    starts at the first frame, so a frame's features depend on the past only and not on the
    input's level: scaling the input scales the output and leaves the gains unchanged.
    Convolutions along frequency (over bands, and over the low bins with stride 2) encode each
    frame; ``layers`` grouped GRUs (``groups`` GRUs of ``hidden // groups`` units each, the
    groups shuffled between layers, residual) run forward over frames; two heads give ERB band
    gains in (0, 1) (``jaxspec.bands.expand_band_gains``, triangular) for the whole spectrum and
    complex deep-filter coefficients of ``df_order`` past-and-current frames for the low bins
    (``jaxspec.bands.deep_filter``), the latter as a correction around the band gain (an
    untrained filter is the band gain).

    With ``floor_gate``, each low bin also tracks its own causal noise floor (:meth:`_floor`: the
    bin's dB power smoothed over ``FLOOR_TAU`` seconds, followed down at once and up by at most
    ``FLOOR_RISE_DB_PER_S``), its gap above the floor is a fourth input channel of the low-bin
    encoder, and the band gain of those bins is multiplied by a soft gate
    ``sigmoid(slope * (gap - threshold))`` whose slope and threshold (one pair per 4 bins, per
    frame) come from a third head; an untrained gate passes nearly everything. It gives the model
    a per-bin noise estimate, as a spectral gate has, to notch steady tones (hum, whine, a fan's
    harmonics) bin by bin.

    Args:
      sr, n_fft: the STFT's rate and size (``freq = n_fft // 2 + 1``).
      hop_length: the STFT hop (for the normalisation's time constant).
      n_bands: ERB bands (``jaxspec.bands.erb_widths``).
      df_bins: low bins filtered by the deep filter (even, at most ``freq``).
      df_order: deep-filter taps (frames), causal.
      hidden, groups, layers, channels: GRU width, groups per GRU layer, GRU layers, conv channels.
      tau: time constant of the running normalisation in seconds.
      floor_gate: add the per-bin noise-floor gate on the low bins (see above).
      rngs: ``nnx.Rngs``.

    Call:
      ``model(Y)`` with the complex STFT ``Y`` ``(..., freq, frames)`` returns the enhanced STFT of
      the same shape. ``model.step(Y_block, carry)`` runs a block of frames from a state
      (:meth:`initial_carry`): blocks one after another equal one call (the model is causal).
    """

    def __init__(self, *, sr: int, n_fft: int, hop_length: int, n_bands: int = 32, df_bins: int = 64,
                 df_order: int = 3, hidden: int = 128, groups: int = 2, layers: int = 2, channels: int = 16,
                 tau: float = 1.0, floor_gate: bool = False, rngs: nnx.Rngs):
        from jaxspec import bands

        freq = n_fft // 2 + 1
        for name, v, ok in (("df_bins", df_bins, 4 <= df_bins <= freq and df_bins % 4 == 0),
                            ("df_order", df_order, df_order >= 1), ("layers", layers, layers >= 1),
                            ("groups", groups, groups >= 1 and hidden % groups == 0),
                            ("channels", channels, channels >= 1), ("tau", tau, tau > 0)):
            if not ok:
                raise ValueError(f"BandDeepFilter: bad {name}={v!r} (df_bins a multiple of 4 in [4, freq], "
                                 f"df_order/layers/channels >= 1, hidden divisible by groups, tau > 0)")
        self.widths = tuple(int(w) for w in bands.erb_widths(sr=sr, n_fft=n_fft, n_bands=n_bands))
        self.n_freq, self.df_bins, self.df_order, self.hidden, self.groups = freq, df_bins, df_order, hidden, groups
        self.alpha = float(bands.norm_alpha(sr=sr, hop_length=hop_length, tau=tau))
        self.floor_gate = bool(floor_gate)
        # the noise floor's smoothing (dB), and its rise per frame in dB
        self.floor_alpha = float(bands.norm_alpha(sr=sr, hop_length=hop_length, tau=FLOOR_TAU))
        self.floor_rise = float(FLOOR_RISE_DB_PER_S * hop_length / sr)
        nb = len(self.widths)
        self.erb_conv1 = nnx.Conv(1, channels, (3,), rngs=rngs)
        self.erb_conv2 = nnx.Conv(channels, channels, (3,), strides=(2,), rngs=rngs)
        self.df_conv1 = nnx.Conv(4 if self.floor_gate else 3, channels, (5,), strides=(2,), rngs=rngs)
        self.df_conv2 = nnx.Conv(channels, channels, (3,), strides=(2,), rngs=rngs)
        n_enc = channels * (-(-nb // 2) + df_bins // 4)
        self.inp = nnx.Linear(n_enc, hidden, rngs=rngs)
        self.inp_norm = nnx.LayerNorm(hidden, rngs=rngs)
        g = hidden // groups
        self.rnns = nnx.List([nnx.List([nnx.RNN(nnx.GRUCell(g, g, rngs=rngs), rngs=False) for _ in range(groups)])
                              for _ in range(layers)])
        self.gain_head = nnx.Linear(hidden, nb, rngs=rngs)
        self.df_head = nnx.Linear(hidden, 2 * df_order * df_bins,
                                  kernel_init=nnx.initializers.normal(1e-3), rngs=rngs)
        if self.floor_gate:  # slope and threshold per 4 low bins of the gate (untrained: a gain near 1)
            self.gate_head = nnx.Linear(hidden, 2 * (df_bins // 4), kernel_init=nnx.initializers.normal(1e-3),
                                        rngs=rngs)

    def initial_carry(self, batch_shape: tuple = ()) -> dict:
        """The state before the first frame (arrays only): running means, GRU states, the past
        ``df_order - 1`` low-band frames and whether any frame was seen (with ``floor_gate``, also
        the low bins' smoothed dB and noise floors)."""
        b = tuple(batch_shape)
        return {"erb": jnp.zeros(b + (len(self.widths),), jnp.float32),
                "df": jnp.zeros(b + (self.df_bins,), jnp.float32),
                "gru": jnp.zeros(b + (len(self.rnns), self.hidden), jnp.float32),
                "past": jnp.zeros(b + (self.df_bins, self.df_order - 1), jnp.complex64),
                "started": jnp.zeros(b, jnp.bool_),
                **({"smooth": jnp.zeros(b + (self.df_bins,), jnp.float32),
                    "floor": jnp.zeros(b + (self.df_bins,), jnp.float32)} if self.floor_gate else {})}

    def __call__(self, Y: jax.Array) -> jax.Array:
        return self.step(Y, self.initial_carry(Y.shape[:-2]))[0]

    def _norm(self, x_db: jax.Array, state: jax.Array, started: jax.Array, real: jax.Array | None,
              alpha: float | None = None):
        from jaxspec import bands

        a = self.alpha if alpha is None else alpha
        s0 = jnp.where(started[..., None], state, x_db[..., 0])  # the first frame starts the mean
        # frames that are not real leave the running mean as it is (a factor of 1)
        alpha = a if real is None else jnp.where(real, jnp.float32(a), jnp.float32(1.0))
        out, s = bands.erb_norm(x_db, alpha=alpha, state=s0)
        if real is not None:  # no real frame: the state before the block
            s = jnp.where(jnp.any(real), s, state)
        return out, s

    def _floor(self, p_db: jax.Array, carry: dict, started: jax.Array, real: jax.Array | None,
               n_valid: jax.Array | None):
        """Per bin of ``p_db`` (power in dB, ``(..., bins, frames)``): the gap in dB above the causal
        noise floor, the floor's state and the smoothing's state.

        The bin's power in dB is smoothed over frames (time constant ``FLOOR_TAU``); the floor
        follows the smoothed value down at once and up by at most ``FLOOR_RISE_DB_PER_S``:
        ``f[t] = min(x[t], f[t-1] + rise)``, i.e. ``rise * t + cummin(x - rise * t)`` from the
        block's start (a running minimum with a slow release, in the manner of minimum statistics).
        The gap is ``x - f >= 0`` ``(..., bins, frames)``."""
        out, smooth = self._norm(p_db, carry["smooth"], started, real, alpha=self.floor_alpha)
        x = p_db - 40.0 * out  # the smoothed dB (erb_norm returns (x - mean) / 40)
        T, r = x.shape[-1], self.floor_rise
        ramp = r * jnp.arange(T, dtype=x.dtype)
        prev = jnp.where(started[..., None], carry["floor"], x[..., 0])
        f = ramp + jnp.minimum(prev[..., None] + r, jax.lax.cummin(x - ramp, axis=x.ndim - 1))
        if n_valid is None:
            floor = f[..., -1]
        else:  # the floor after the last real frame; no real frame: the state before the block
            nv = jnp.asarray(n_valid, jnp.int32)
            last = jax.lax.dynamic_index_in_dim(f, jnp.maximum(nv - 1, 0), axis=-1, keepdims=False)
            floor = jnp.where(nv > 0, last, carry["floor"])
        return jnp.maximum(x - f, 0.0), floor, smooth

    def step(self, Y: jax.Array, carry: dict, n_valid: jax.Array | None = None) -> tuple[jax.Array, dict]:
        """Enhance a block of frames ``Y`` ``(..., freq, frames)`` from ``carry``: ``(out, carry)``.

        With ``n_valid`` (an int scalar, possibly traced) only the first ``n_valid`` frames are
        real: the returned carry is the state after them, as if the block had ended there (the
        outputs of the other frames are meaningless)."""
        import jaxspec as js
        from jaxspec import _numerics, bands

        if Y.ndim < 2 or Y.shape[-2] != self.n_freq:
            raise ValueError(f"BandDeepFilter: Y must be (..., {self.n_freq}, frames), got {Y.shape}")
        Y = Y.astype(jnp.complex64)
        batch, T = Y.shape[:-2], Y.shape[-1]
        started = carry["started"]
        real = None if n_valid is None else jnp.arange(T) < jnp.asarray(n_valid, jnp.int32)
        E = bands.band_power(Y, widths=self.widths, db=True)
        erb, erb_s = self._norm(E, carry["erb"], started, real)
        low = Y[..., : self.df_bins, :]
        mag_db = js.power_to_db(js.power(low), amin=1e-10, top_db=None)
        mag, df_s = self._norm(mag_db, carry["df"], started, real)
        unit = _numerics.safe_unit(low)
        df_in = [mag, unit.real, unit.imag]
        if self.floor_gate:  # the low bins' level above their own noise floors, a fourth channel
            gap, floor_s, smooth_s = self._floor(mag_db, carry, started, real, n_valid)
            df_in.append(gap / 20.0)
        # (n, frames, rows, channels) for the convolutions along frequency
        n = -1
        e = jnp.swapaxes(erb, -1, -2).reshape((n, T, len(self.widths), 1))
        d = jnp.stack(df_in, axis=-1)  # (..., bins, frames, channels)
        d = jnp.swapaxes(d, -2, -3).reshape((n, T, self.df_bins, len(df_in)))
        e = jax.nn.relu(self.erb_conv2(jax.nn.relu(self.erb_conv1(e))))
        d = jax.nn.relu(self.df_conv2(jax.nn.relu(self.df_conv1(d))))
        x = jnp.concatenate([e.reshape(e.shape[:2] + (-1,)), d.reshape(d.shape[:2] + (-1,))], axis=-1)
        x = jax.nn.relu(self.inp_norm(self.inp(x)))  # (n, frames, hidden)
        h = carry["gru"].reshape((-1,) + carry["gru"].shape[-2:])
        g = self.hidden // self.groups
        new = []
        lengths = None if n_valid is None else jnp.broadcast_to(jnp.asarray(n_valid, jnp.int32), x.shape[:1])
        for i, group in enumerate(self.rnns):
            parts, states = [], []
            for j, rnn in enumerate(group):
                c, y = rnn(x[..., j * g:(j + 1) * g], initial_carry=h[:, i, j * g:(j + 1) * g], return_carry=True,
                           seq_lengths=lengths)
                parts.append(y)
                states.append(c)
            y = jnp.concatenate(parts, axis=-1)
            if self.groups > 1:  # shuffle: every group of the next layer sees every group of this one
                y = y.reshape(y.shape[:-1] + (self.groups, g)).swapaxes(-1, -2).reshape(y.shape)
            x = x + y
            new.append(jnp.concatenate(states, axis=-1))
        gains = jax.nn.sigmoid(self.gain_head(x))  # (n, frames, bands)
        coefs = jnp.tanh(self.df_head(x)).reshape(x.shape[:2] + (2, self.df_order, self.df_bins))
        gains = jnp.swapaxes(gains, -1, -2).reshape(batch + (len(self.widths), T))
        coefs = jnp.moveaxis(coefs, 1, -1).reshape(batch + (2, self.df_order, self.df_bins, T))
        mask = bands.expand_band_gains(gains, widths=self.widths, shape="triangular")
        if self.floor_gate:  # per low bin, a soft gate on the gap above the noise floor (dB)
            z = self.gate_head(x)  # (n, frames, 2 * df_bins / 4): a slope and a threshold per 4 bins
            z = jnp.repeat(jnp.swapaxes(z, -1, -2).reshape(batch + (2, self.df_bins // 4, T)), 4, axis=-2)
            g = jax.nn.sigmoid(jax.nn.softplus(z[..., 0, :, :]) * (gap - (20.0 * jnp.tanh(z[..., 1, :, :]) - 10.0)))
            mask = jnp.concatenate([mask[..., : self.df_bins, :] * g, mask[..., self.df_bins:, :]], axis=-2)
        coefs = jax.lax.complex(coefs[..., 0, :, :, :], coefs[..., 1, :, :, :])
        coefs = coefs.at[..., -1, :, :].add(mask[..., : self.df_bins, :].astype(coefs.dtype))  # around the gain
        # deep filter over the past frames kept in the carry followed by this block
        P = self.df_order - 1
        full = jnp.concatenate([carry["past"], low], axis=-1)
        pad_coefs = jnp.concatenate([jnp.zeros(batch + (self.df_order, self.df_bins, P), coefs.dtype), coefs], -1)
        filtered = bands.deep_filter(full, pad_coefs, order=self.df_order, lookahead=0)[..., P:]
        out = jnp.concatenate([filtered, (mask * Y)[..., self.df_bins:, :]], axis=-2)
        if not P:
            past = carry["past"]
        elif n_valid is None:
            past = full[..., full.shape[-1] - P:]
        else:  # the P frames before the first frame that is not real
            past = jax.lax.dynamic_slice_in_dim(full, jnp.asarray(n_valid, jnp.int32), P, axis=-1)
        gru = jnp.stack(new, axis=1).reshape(carry["gru"].shape)
        if n_valid is None:
            now = jnp.ones_like(started)
        else:  # no real frame: the recurrent state of before the block (the RNN would return its last slot's)
            now = started | (jnp.asarray(n_valid) > 0)
            gru = jnp.where(jnp.asarray(n_valid) > 0, gru, carry["gru"])
        carry = {"erb": erb_s, "df": df_s, "gru": gru, "past": past, "started": now}
        if self.floor_gate:
            carry.update(smooth=smooth_s, floor=floor_s)
        return out, carry
