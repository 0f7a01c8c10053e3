"""Registry rows for jaxspec.masks (the ``masks`` namespace)."""

import functools

import numpy as np

from jaxspec import masks

from . import Row, cplx, real

FREQ, T = 17, 9


def _sn(r, b, d):
    return cplx(r, b + (FREQ, T), d), cplx(r, b + (FREQ, T), d)


def _sn_param(r, b, d):  # a non-negative per-example parameter; fn adds 0.5 (zeros test) and broadcasts it
    return cplx(r, b + (FREQ, T), d), cplx(r, b + (FREQ, T), d), np.abs(real(r, b, d)).astype(d)


ROWS = [
    Row("masks.ibm", masks.ibm, _sn, grad_argnums=()),
    Row("masks.ibm", lambda s, n, t: masks.ibm(s, n, threshold_db=t[..., None, None] - 0.5), _sn_param,
        grad_argnums=(), id="masks.ibm-traced-threshold"),
    Row("masks.soft_ibm", masks.soft_ibm, _sn, grad_argnums=(0, 1)),
    Row("masks.soft_ibm", lambda s, n, t: masks.soft_ibm(s, n, threshold_db=-t[..., None, None],
                                                         temperature=0.5 + t[..., None, None]),
        _sn_param, grad_argnums=(0, 1, 2), id="masks.soft_ibm-traced"),
    Row("masks.irm", masks.irm, _sn, grad_argnums=(0, 1)),
    Row("masks.irm", lambda s, n, beta: masks.irm(s, n, beta=0.5 + beta[..., None, None]), _sn_param,
        grad_argnums=(0, 1, 2), id="masks.irm-traced-beta"),
    Row("masks.iam", masks.iam, _sn, grad_argnums=(0, 1)),
    Row("masks.iam", functools.partial(masks.iam, max=None), _sn, grad_argnums=(0, 1), id="masks.iam-unclipped"),
    Row("masks.psm", masks.psm, _sn, grad_argnums=(0, 1)),
    Row("masks.psm", functools.partial(masks.psm, min=-1.0, max=None), _sn, grad_argnums=(0, 1), id="masks.psm-min-only"),
    Row("masks.cirm", masks.cirm, _sn, grad_argnums=(0, 1)),
    Row("masks.cirm", lambda s, n, k: masks.cirm(s, n, K=10.0 * (0.5 + k[..., None, None]), C=0.1), _sn_param,
        grad_argnums=(0, 1, 2), id="masks.cirm-compressed-traced-K"),
    Row("masks.cirm_compress", functools.partial(masks.cirm_compress, K=10.0, C=0.1),
        lambda r, b, d: (cplx(r, b + (FREQ, T), d, scale=5.0),)),
    Row("masks.cirm_decompress", functools.partial(masks.cirm_decompress, K=10.0, C=0.1),
        lambda r, b, d: (cplx(r, b + (FREQ, T), d),)),
    Row("masks.orm", masks.orm, _sn, grad_argnums=(0, 1)),
    Row("masks.orm", functools.partial(masks.orm, K=1.0, C=0.5), _sn, grad_argnums=(0, 1), id="masks.orm-compressed"),
    Row("masks.apply_mask", masks.apply_mask,
        lambda r, b, d: (cplx(r, b + (FREQ, T), d), np.abs(real(r, b + (FREQ, T), d))), grad_argnums=(0, 1)),
    Row("masks.apply_mask", masks.apply_mask, _sn, grad_argnums=(0, 1), id="masks.apply_mask-complex"),
    Row("masks.apply_magnitude", masks.apply_magnitude,
        lambda r, b, d: (cplx(r, b + (FREQ, T), d), np.abs(real(r, b + (FREQ, T), d))), grad_argnums=(0, 1)),
]
