"""The enhancement example built on jaxspec: train a mask estimator on mixtures made on the device,
evaluate it, and enhance audio files. Split like the flax examples:

- :mod:`~jaxspec.enhance.config`: ``TrainConfig``, the one configuration object (JSON round trip).
- :mod:`~jaxspec.enhance.input_pipeline`: audio sources, lazy random crops, the grain pipeline.
- :mod:`~jaxspec.enhance.noise`: noise generated from a key (the default when no noise files are given).
- :mod:`~jaxspec.enhance.models`: Flax NNX mask estimators; :mod:`~jaxspec.enhance.baseline`: spectral gating.
- :mod:`~jaxspec.enhance.train`: the jitted, sharded train step and the loop.
- :mod:`~jaxspec.enhance.checkpoints`: orbax checkpoints (model, optimiser, config, data state).
- :mod:`~jaxspec.enhance.evaluate`: held-out evaluation and ``enhance_file``.

The library (``jaxspec``) never imports this package; ``jaxspec.cli`` is a thin layer over it.
It needs the ``enhance`` extra (grain): ``pip install 'jaxspec[enhance]'``.
"""

from .config import TrainConfig

__all__ = ["TrainConfig"]
