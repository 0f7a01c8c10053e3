"""jaxspec: jittable, vmappable, differentiable spectral processing for speech enhancement.

The public API is flat: ``jaxspec.stft``, ``jaxspec.istft``, ``jaxspec.mix``, ... Mask functions
live in the ``jaxspec.masks`` namespace (``jaxspec.masks.irm``).
"""

from ._version import __version__
from .spectral import magnitude, phase, polar, power
from .stft import frame, frame_times, frequencies, istft, n_frames, overlap_add, stft
from .windows import check_cola, check_nola, get_window

# -- further modules register their public names below, one block each --

__all__ = [
    "__version__",
    # stft
    "stft",
    "istft",
    "n_frames",
    "frame",
    "overlap_add",
    "frequencies",
    "frame_times",
    # windows
    "get_window",
    "check_nola",
    "check_cola",
    # spectral
    "magnitude",
    "phase",
    "power",
    "polar",
]
