"""jaxspec: jittable, vmappable, differentiable spectral processing for speech enhancement.

The public API is flat: ``jaxspec.stft``, ``jaxspec.istft``, ``jaxspec.mix``, ... Mask functions
live in the ``jaxspec.masks`` namespace (``jaxspec.masks.irm``).
"""

from ._version import __version__
from .spectral import magnitude, phase, polar, power
from .stft import frame, frame_times, frequencies, istft, n_frames, overlap_add, stft
from .windows import check_cola, check_nola, get_window

# -- further modules register their public names below, one block each --

# vocoder (issue 4): phase vocoder, time stretch, pitch shift, resampling
from .griffin_lim import griffin_lim
from .vocoder import phase_vocoder, pitch_shift, resample, resample_fixed, time_stretch

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
    # vocoder
    "phase_vocoder",
    "time_stretch",
    "pitch_shift",
    "resample",
    "resample_fixed",
    "griffin_lim",
]