"""Registry rows for jaxspec.streaming (the ``streaming`` namespace).

Each row builds its state inside the function from the input's batch shape and dtype, so vmap
and leading batch dims exercise states of every shape.
"""

import numpy as np

from jaxspec import streaming as st

from . import Row, cplx, real

P = dict(n_fft=32, hop_length=8)
FREQ = 17


def _rdt(a):
    return np.finfo(a.dtype).dtype


def _stft_two_steps(x):
    s = st.stft_init(batch_shape=x.shape[:-1], dtype=x.dtype, **P)
    a, s = st.stft_step(x[..., :13], s, **P)
    b, s = st.stft_step(x[..., 13:], s, **P)
    return a.values, b.values, s.buffer


def _stft_flush(x):
    s = st.stft_init(batch_shape=x.shape[:-1], dtype=x.dtype, **P)
    _, s = st.stft_step(x, s, **P)
    return st.stft_flush(s, **P)[0].values


def _istft_two_steps(S):
    s = st.istft_init(batch_shape=S.shape[:-2], dtype=_rdt(S), **P)
    a, s = st.istft_step(S[..., :2], s, **P)
    b, s = st.istft_step(S[..., 2:], s, **P)
    return a.values, b.values, s.pending


def _istft_flush(S):
    s = st.istft_init(batch_shape=S.shape[:-2], dtype=_rdt(S), **P)
    _, s = st.istft_step(S, s, **P)
    return st.istft_flush(s, length=40, **P)[0].values


def _sig(r, b, d):
    return (real(r, b + (45,), d),)


def _spec(r, b, d):
    return (cplx(r, b + (FREQ, 6), d),)


ROWS = [
    Row("streaming.stft_init", lambda: st.stft_init(batch_shape=(2,), **P).buffer, kind="static"),
    Row("streaming.istft_init", lambda: st.istft_init(batch_shape=(2,), **P).pending, kind="static"),
    Row("streaming.latency", lambda: st.latency(**P, chunk=5), kind="static"),
    Row("streaming.stft_step", _stft_two_steps, _sig),
    Row("streaming.stft_flush", _stft_flush, _sig),
    Row("streaming.istft_step", _istft_two_steps, _spec),
    Row("streaming.istft_flush", _istft_flush, _spec),
]
