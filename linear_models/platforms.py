"""Where the linear models run: ``--platform {auto,cpu,gpu}`` of ``python -m linear_models.sweep``.

Nothing in ``linear_models`` pins a device: every array lives on JAX's default device,
and the results record it (``device`` of a cached result, ``_jax.device_info``). The
option only narrows what JAX may pick:

* ``auto``: leave JAX alone (a GPU when one is installed and visible, else the CPU; an
  ``JAX_PLATFORMS`` set in the environment is respected);
* ``cpu`` / ``gpu``: set ``JAX_PLATFORMS`` to that platform before JAX is imported (and the
  ``jax_platforms`` option when JAX is imported but has not started a backend yet), then
  check that JAX does run there: ``gpu`` without a usable GPU backend is an error, not a
  silent fall-back to the CPU.

This module does not import JAX at import time.
"""

from __future__ import annotations

import os
import sys

from theory.errors import ParameterError, require

PLATFORMS: tuple[str, ...] = ("auto", "cpu", "gpu")
ENV = "JAX_PLATFORMS"


def _backends_started() -> bool:
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge
        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):  # pragma: no cover - other JAX versions: assume started
        return True


def select_platform(name: str) -> None:
    """Restrict JAX to ``name`` (see the module docstring); call before any array is made."""
    require(name in PLATFORMS, "--platform", f"one of {', '.join(PLATFORMS)}", name)
    if name == "auto":
        return
    if _backends_started():
        import jax
        current = jax.default_backend()
        require(current == name, "--platform",
                f"the platform JAX already runs on in this process ({current}); choose it before JAX starts", name)
        return
    os.environ[ENV] = name
    if "jax" in sys.modules:  # imported, no backend yet: the environment was read at import
        import jax
        jax.config.update("jax_platforms", name)


def check_platform(name: str) -> str:
    """Start JAX's backend and return its platform; ``cpu``/``gpu`` must be what runs."""
    require(name in PLATFORMS, "--platform", f"one of {', '.join(PLATFORMS)}", name)
    import jax
    try:
        current = jax.default_backend()
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ParameterError("--platform", f"a platform JAX can start here ({first[:160]})", name) from None
    require(name == "auto" or current == name, "--platform", f"a platform JAX can start here (it runs on {current})",
            name)
    return current


__all__ = ["PLATFORMS", "select_platform", "check_platform"]
