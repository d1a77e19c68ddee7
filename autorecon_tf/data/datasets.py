"""Real image-classification datasets, loaded offline, by registry name.

- ``fashion_mnist``: the Debian package ``dataset-fashion-mnist`` (IDX files under
  ``/usr/share/datasets/fashion-mnist``; override with ``--data_dir`` or the
  ``AUTORECON_FASHION_MNIST_DIR`` environment variable).
- ``digits``: scikit-learn's bundled 8x8 digits (1,797 images), for fast tests.

Nothing is downloaded at run time.
"""

import dataclasses
import os

import numpy as np

from autorecon_tf.data.idx import read_idx
from autorecon_tf.errors import UserError

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_ENV = "AUTORECON_FASHION_MNIST_DIR"
FASHION_MNIST_CLASSES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
_INSTALL_HINT = "install it with 'apt-get install -y dataset-fashion-mnist' (after 'apt-get update') or pass --data_dir"


@dataclasses.dataclass
class Dataset:
    """Arrays of one dataset: images are uint8 NHWC, labels int64."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def image_shape(self):
        return tuple(self.x_train.shape[1:])


def _idx_pair(directory, prefix):
    images = _find(directory, f"{prefix}-images-idx3-ubyte")
    labels = _find(directory, f"{prefix}-labels-idx1-ubyte")
    x = read_idx(images, expected_rank=3)
    y = read_idx(labels, expected_rank=1)
    if len(x) != len(y):
        raise UserError(f"{images!r} holds {len(x)} images but {labels!r} holds {len(y)} labels")
    if y.size and y.max() >= len(FASHION_MNIST_CLASSES):
        raise UserError(f"{labels!r} holds label {int(y.max())}; Fashion-MNIST has 10 classes")
    return x[..., None], y.astype(np.int64)


def _find(directory, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise UserError(f"Fashion-MNIST file {stem}[.gz] is missing in {directory!r}: {_INSTALL_HINT}")


def load_fashion_mnist(data_dir=None):
    directory = data_dir or os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DIR
    if not os.path.isdir(directory):
        raise UserError(f"Fashion-MNIST directory {directory!r} does not exist: {_INSTALL_HINT}")
    x_train, y_train = _idx_pair(directory, "train")
    x_test, y_test = _idx_pair(directory, "t10k")
    return Dataset("fashion_mnist", x_train, y_train, x_test, y_test, FASHION_MNIST_CLASSES)


def load_digits(data_dir=None):
    """scikit-learn's 8x8 digits, scaled to uint8, with a fixed 80/20 split."""
    del data_dir
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    images, labels = images[order], labels[order]
    split = int(0.8 * len(labels))
    names = tuple(str(d) for d in range(10))
    return Dataset("digits", images[:split], labels[:split], images[split:], labels[split:], names)


DATASETS = {"fashion_mnist": load_fashion_mnist, "digits": load_digits}


def load_dataset(name, data_dir=None):
    """Loads a dataset by registry name."""
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name](data_dir)
