"""Trained linear models of Chen et al. (ICLR 2026): JAX solvers, FedAvg and gossip, checks.

The sampled twin of ``theory``: the same objectives, trained by minibatch SGD with fresh
views (float64, jit, vmapped over clients), compared with the closed forms of ``theory``.

The names below are imported on first use (PEP 562), so that importing the package does
not import JAX: ``python -m linear_models.sweep --platform gpu`` sets ``JAX_PLATFORMS``
before JAX is first imported. Every module that uses JAX imports ``linear_models._jax``
(float64) itself.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "METHODS": "objectives", "init_params": "objectives", "representation_rows": "objectives",
    "FRAMEWORKS": "distributed", "History": "distributed", "RunOutput": "distributed", "Schedule": "distributed",
    "compress": "distributed", "gossip_mix": "distributed", "run_fedavg": "distributed", "run_gossip": "distributed",
    "run_local": "distributed",
    "METHOD_DEFAULTS": "experiment", "LinearRunConfig": "experiment", "config_key": "experiment", "run": "experiment",
    "sgd": "optim", "adam": "optim",
    "Data": "solvers", "ExactSolution": "solvers", "StepSpec": "solvers", "TopC": "solvers",
    "exact_solution": "solvers", "fit": "solvers", "fit_population": "solvers", "top_c": "solvers",
    "claims_from_results": "checks", "sampled_checks": "checks", "sampled_configs": "checks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
