"""The one place where ``linear_models`` configures JAX: float64 everywhere.

The theory comparisons need float64 (eigengaps of 1e-5 relative and tie tolerances of
1e-9 are below float32 resolution), so importing any module of this package enables
``jax_enable_x64``. Nothing else is set globally; in particular the device is whatever
JAX picks (CPU or GPU) and is recorded with every result (:func:`device_info`).
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)


def device_info() -> dict[str, str]:
    """The platform and device kind JAX computes on, e.g. {"platform": "cpu", "device": "cpu"}."""
    dev = jax.devices()[0]
    return {"platform": dev.platform, "device": str(getattr(dev, "device_kind", dev.platform)),
            "jax": jax.__version__}
