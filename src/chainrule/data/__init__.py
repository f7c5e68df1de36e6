"""Data for training: `ArrayDataset` and `DataLoader` for mini-batches, loaders for the
bundled digits, IDX files, MNIST and Fashion-MNIST, and `download` for the latter two.
Heavy or networked dependencies (scikit-learn, urllib) load only when a function needs them.
"""

from chainrule.data.dataset import ArrayDataset, split
from chainrule.data.digits import load_digits
from chainrule.data.download import download
from chainrule.data.errors import DatasetError
from chainrule.data.idx import load_idx, save_idx
from chainrule.data.loader import DataLoader
from chainrule.data.mnist import ImageClassificationData, load_fashion_mnist, load_mnist

__all__ = [
    "ArrayDataset",
    "DataLoader",
    "DatasetError",
    "ImageClassificationData",
    "download",
    "load_digits",
    "load_fashion_mnist",
    "load_idx",
    "load_mnist",
    "save_idx",
    "split",
]
