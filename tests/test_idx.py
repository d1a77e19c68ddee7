import gzip
import os

import numpy as np
import pytest

from autorecon_tf.data import datasets
from autorecon_tf.data.idx import read_idx, write_idx
from autorecon_tf.errors import UserError


@pytest.mark.parametrize("name", ["images.idx", "images.idx.gz"])
def test_reads_back_what_was_written(tmp_path, name):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / name, array)
    np.testing.assert_array_equal(read_idx(tmp_path / name, expected_rank=3), array)


def test_truncated_data_is_an_error(tmp_path):
    path = tmp_path / "x.idx"
    write_idx(path, np.ones((5, 2, 2), np.uint8))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(UserError, match="truncated"):
        read_idx(path)


def test_truncated_header_is_an_error(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(UserError, match="truncated inside its header"):
        read_idx(path)


def test_truncated_gzip_is_an_error(tmp_path):
    path = tmp_path / "x.idx.gz"
    write_idx(path, np.ones((50, 8, 8), np.uint8) * 7)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(UserError, match="corrupt or truncated gzip"):
        read_idx(path)


def test_wrong_magic_is_an_error(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(b"\x50\x4b\x03\x04" + bytes(100))
    with pytest.raises(UserError, match="wrong magic number"):
        read_idx(path)


def test_wrong_rank_is_an_error(tmp_path):
    path = tmp_path / "labels.idx"
    write_idx(path, np.ones((4,), np.uint8))
    with pytest.raises(UserError, match="rank 1, expected 3"):
        read_idx(path, expected_rank=3)


def test_missing_fashion_mnist_names_the_package(tmp_path):
    with pytest.raises(UserError, match="apt-get install -y dataset-fashion-mnist"):
        datasets.load_fashion_mnist(str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="train-images-idx3-ubyte"):
        datasets.load_fashion_mnist(str(tmp_path))


def test_fashion_mnist_from_a_directory_of_idx_files(tmp_path):
    for prefix, count in (("train", 6), ("t10k", 3)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", np.zeros((count, 28, 28), np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(count, dtype=np.uint8))
    data = datasets.load_fashion_mnist(str(tmp_path))
    assert data.x_train.shape == (6, 28, 28, 1) and data.x_test.shape == (3, 28, 28, 1)
    assert data.num_classes == 10


def test_mismatched_image_and_label_counts(tmp_path):
    for prefix in ("train", "t10k"):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", np.zeros((4, 28, 28), np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", np.zeros((3,), np.uint8))
    with pytest.raises(UserError, match="4 images but .* 3 labels"):
        datasets.load_fashion_mnist(str(tmp_path))


@pytest.mark.skipif(not os.path.isdir(datasets.FASHION_MNIST_DIR), reason="dataset-fashion-mnist is not installed")
def test_installed_fashion_mnist_has_the_published_sizes():
    data = datasets.load_fashion_mnist()
    assert data.x_train.shape == (60000, 28, 28, 1) and data.x_test.shape == (10000, 28, 28, 1)
    assert np.bincount(data.y_test).tolist() == [1000] * 10


def test_digits_is_bundled_and_split():
    data = datasets.load_dataset("digits")
    assert data.image_shape == (8, 8, 1) and len(data.x_train) + len(data.x_test) == 1797
    assert data.x_train.dtype == np.uint8 and data.x_train.max() == 255


def test_unknown_dataset():
    with pytest.raises(UserError, match="unknown dataset 'cifar'"):
        datasets.load_dataset("cifar")


def test_gzip_module_is_used_for_gz(tmp_path):
    raw = bytes([0, 0, 8, 1, 0, 0, 0, 2, 5, 6])
    (tmp_path / "a.gz").write_bytes(gzip.compress(raw))
    assert read_idx(tmp_path / "a.gz").tolist() == [5, 6]
