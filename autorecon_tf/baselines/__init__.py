"""Baselines of stage 2, run by ``tools/compress.py`` under the same budget accounting.

- ``noise``: post-training calibration of the activation ranges on Gaussian noise; no training.
- ``zeroq``: ZeroQ-style distilled images (BN-statistics matching), calibration + KD fine-tuning.
- ``real``: QAT on the real training set, the upper bound; NOT data-free.
"""

from autorecon_tf.baselines.noise import noise_dataset
from autorecon_tf.baselines.real_data import real_dataset
from autorecon_tf.baselines.zeroq import distill_images, image_dataset

BASELINES = ("noise", "zeroq", "real")

__all__ = ["BASELINES", "distill_images", "image_dataset", "noise_dataset", "real_dataset"]
