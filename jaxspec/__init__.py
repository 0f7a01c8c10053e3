"""jaxspec: jittable, vmappable, differentiable spectral processing for speech enhancement.

The public API is flat: ``jaxspec.stft``, ``jaxspec.istft``, ``jaxspec.mix``, ... Mask functions
live in the ``jaxspec.masks`` namespace (``jaxspec.masks.irm``), band functions in ``jaxspec.bands``
and the streamed transforms in ``jaxspec.streaming``.
"""

from ._version import __version__
from .spectral import magnitude, phase, polar, power
from .stft import frame, frame_times, frequencies, istft, n_frames, overlap_add, stft
from .windows import check_cola, check_nola, get_window

# -- further modules register their public names below, one block each --

# augment + metrics: key-driven augmentation; enhancement metrics and losses
from .augment import (chain, early_rir, eq, eq_curve, gain, maybe, random_eq, random_gain, random_spec_augment,
                      random_time_stretch, reverb, spec_augment, synthetic_rir)
from .metrics import (compressed_spectral_mse, multi_resolution_stft_loss, pesq, segmental_snr, si_sdr, si_sdr_loss,
                      snr, spectral_convergence, stoi)

# mixing: SNR mixing, SNR distributions, length fitting, clipping; masks as a namespace
from . import masks
from .mixing import (Choice, Normal, TruncatedNormal, Uniform, fit_length, mix, peak_bound, prevent_clipping,
                     random_mix, signal_power, snr_gain)

# vocoder: phase vocoder, time stretch, pitch shift, resampling
from .griffin_lim import griffin_lim
from .vocoder import phase_vocoder, pitch_shift, resample, resample_fixed, time_stretch

# features: dB scales, compression, channels, mel, splicing, normalisation
from .features import Standardizer, normalize, splice
from .mel import hz_to_mel, log_mel, mel_filterbank, mel_frequencies, mel_spectrogram, mel_to_hz, mfcc
from .spectral import (amplitude_to_db, compress, db_to_amplitude, db_to_power, decompress, from_channels,
                       power_to_db, to_channels)

# bands: ERB bands, running normalisation, band gains, deep filter (a namespace, like masks)
from . import bands

# streaming: chunked STFT / iSTFT with state, equal to the offline transforms (a namespace)
from . import streaming

# io: host-side audio and spectrogram files
from .io import load, load_spectrogram, save, save_spectrogram

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
    # features (spectral dB/compression/channels, mel, features)
    "amplitude_to_db",
    "power_to_db",
    "db_to_amplitude",
    "db_to_power",
    "compress",
    "decompress",
    "to_channels",
    "from_channels",
    "hz_to_mel",
    "mel_to_hz",
    "mel_frequencies",
    "mel_filterbank",
    "mel_spectrogram",
    "log_mel",
    "mfcc",
    "splice",
    "normalize",
    "Standardizer",
    # vocoder
    "phase_vocoder",
    "time_stretch",
    "pitch_shift",
    "resample",
    "resample_fixed",
    "griffin_lim",
    # mixing
    "signal_power",
    "snr_gain",
    "mix",
    "random_mix",
    "fit_length",
    "prevent_clipping",
    "peak_bound",
    "Uniform",
    "Normal",
    "TruncatedNormal",
    "Choice",
    # masks (namespace: jaxspec.masks.irm, ...)
    "masks",
    # bands (namespace: jaxspec.bands.erb_widths, ...)
    "bands",
    # streaming (namespace: jaxspec.streaming.stft_step, ...)
    "streaming",
    # augment
    "gain",
    "random_gain",
    "spec_augment",
    "random_spec_augment",
    "eq",
    "eq_curve",
    "random_eq",
    "reverb",
    "synthetic_rir",
    "early_rir",
    "random_time_stretch",
    "chain",
    "maybe",
    # metrics
    "snr",
    "si_sdr",
    "segmental_snr",
    "si_sdr_loss",
    "compressed_spectral_mse",
    "multi_resolution_stft_loss",
    "stoi",
    "pesq",
    "spectral_convergence",
    # io
    "load",
    "save",
    "save_spectrogram",
    "load_spectrogram",
]
