"""Flax NNX mask estimators for the training example (``jaxspec.train``).

``MaskDNN`` is the classic frame-wise DNN: spliced, normalised log-magnitude frames in, one mask
frame out. ``make_model(cfg, rngs=...)`` builds the model a :class:`jaxspec.config.TrainConfig`
names.
"""

from .dnn import MaskDNN, make_model, n_features

__all__ = ["MaskDNN", "make_model", "n_features"]
