"""Registry rows for jaxspec.bands (the ``bands`` namespace)."""

import functools

import numpy as np

from jaxspec import bands

from . import Row, cplx, real

WIDTHS = (2, 2, 3, 4, 6)  # 17 bins, as an n_fft=32 STFT
FREQ, T, ORDER, NB = sum(WIDTHS), 9, 3, 6


def _spec(r, b, d):
    return (cplx(r, b + (FREQ, T), d),)


def _db(r, b, d):
    return (real(r, b + (len(WIDTHS), T), d, 20.0) - 50.0,)


def _db_state(r, b, d):
    return real(r, b + (len(WIDTHS), T), d, 20.0) - 50.0, real(r, b + (len(WIDTHS),), d, 10.0) - 60.0


def _low(r, b, d):
    return (cplx(r, b + (NB, T), d),)


def _low_state(r, b, d):
    return cplx(r, b + (NB, T), d), np.abs(real(r, b + (NB,), d)).astype(d) + 0.1


def _gains(r, b, d):
    return (np.abs(real(r, b + (len(WIDTHS), T), d)).astype(d),)


def _df(r, b, d):
    return cplx(r, b + (FREQ, T), d), cplx(r, b + (ORDER, NB, T), d)


def _df_step(r, b, d):
    return cplx(r, b + (FREQ,), d), cplx(r, b + (ORDER, NB), d), cplx(r, b + (FREQ, ORDER), d)


def _sn(r, b, d):
    return cplx(r, b + (FREQ, T), d), cplx(r, b + (FREQ, T), d)


def _sn_beta(r, b, d):
    return cplx(r, b + (FREQ, T), d), cplx(r, b + (FREQ, T), d), np.abs(real(r, b, d)).astype(d)


ROWS = [
    Row("bands.erb_widths", lambda: bands.erb_widths(sr=16000, n_fft=320, n_bands=32, min_bins=1), kind="static"),
    Row("bands.norm_alpha", lambda: bands.norm_alpha(sr=48000, hop_length=480), kind="static"),
    Row("bands.erb_norm_init", lambda: bands.erb_norm_init(n_bands=32), kind="static"),
    Row("bands.unit_norm_init", lambda: bands.unit_norm_init(n_bins=96), kind="static"),
    Row("bands.deep_filter_init", lambda: bands.deep_filter_init(n_freq=FREQ, order=ORDER, batch_shape=(2,)).real,
        kind="static"),
    Row("bands.band_power", functools.partial(bands.band_power, widths=WIDTHS), _spec, atol=1e-4),
    Row("bands.band_power", functools.partial(bands.band_power, widths=WIDTHS, db=False), _spec, id="bands.band_power-linear"),
    Row("bands.erb_norm", functools.partial(bands.erb_norm, alpha=0.9), _db, atol=1e-4),
    Row("bands.erb_norm", lambda e, s: bands.erb_norm(e, alpha=0.7, state=s), _db_state, grad_argnums=(0, 1),
        atol=1e-4, id="bands.erb_norm-state"),
    Row("bands.erb_features", functools.partial(bands.erb_features, widths=WIDTHS, alpha=0.9), _spec, atol=1e-4),
    Row("bands.unit_norm", functools.partial(bands.unit_norm, alpha=0.9), _low),
    Row("bands.unit_norm", lambda x, s: bands.unit_norm(x, alpha=0.5, state=s), _low_state, grad_argnums=(0, 1),
        id="bands.unit_norm-state"),
    Row("bands.expand_band_gains", functools.partial(bands.expand_band_gains, widths=WIDTHS), _gains),
    Row("bands.expand_band_gains", functools.partial(bands.expand_band_gains, widths=WIDTHS, shape="triangular"), _gains,
        id="bands.expand_band_gains-triangular"),
    Row("bands.post_filter", bands.post_filter, _gains),
    Row("bands.deep_filter", functools.partial(bands.deep_filter, lookahead=1), _df, grad_argnums=(0, 1)),
    Row("bands.deep_filter_step", functools.partial(bands.deep_filter_step, lookahead=1), _df_step,
        grad_argnums=(0, 1, 2)),
    Row("bands.erb_irm", functools.partial(bands.erb_irm, widths=WIDTHS), _sn, grad_argnums=(0, 1)),
    Row("bands.erb_irm", lambda s, n, b: bands.erb_irm(s, n, widths=WIDTHS, beta=0.5 + b[..., None, None]), _sn_beta,
        grad_argnums=(0, 1, 2), id="bands.erb_irm-traced-beta"),
]
