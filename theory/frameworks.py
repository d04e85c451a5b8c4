"""The paper's learning frameworks and the training algorithms that realise them: one vocabulary.

Chen et al. (ICLR 2026), Eq. 1, compare three frameworks. ``theory`` and ``empirical`` name them
by the framework; ``linear_models`` names its runs by the algorithm that trains them (its
``framework`` field and ``--framework`` option, kept so that cached results keep their keys).
This table is the one mapping between the two, used by every package:

=========  =============================  ======================  ==============================
paper      ``theory``, ``empirical``      ``linear_models``       what trains it
=========  =============================  ======================  ==============================
local      ``"local"``                    ``"local"``             each client alone
DecL       ``"decl"``                     ``"gossip"``            D-PSGD / ATC gossip on a graph
FL         ``"fl"``                       ``"fedavg"``            FedAvg through a server
=========  =============================  ======================  ==============================

:func:`as_framework` and :func:`as_algorithm` accept either spelling, so every CLI takes both
(``python -m linear_models.sweep --framework decl`` is ``--framework gossip``).
"""

from __future__ import annotations

from .errors import require

__all__ = ["FRAMEWORKS", "GLOBAL_FRAMEWORKS", "ALGORITHMS", "ALGORITHM_OF", "FRAMEWORK_OF", "LABELS",
           "as_framework", "as_algorithm"]

FRAMEWORKS: tuple[str, ...] = ("local", "decl", "fl")
"""The frameworks of Eq. 1, as ``theory`` and ``empirical`` name them."""
GLOBAL_FRAMEWORKS: tuple[str, ...] = ("decl", "fl")
"""The frameworks with a global (aggregated) objective."""
ALGORITHMS: tuple[str, ...] = ("local", "fedavg", "gossip")
"""The training algorithms, as ``linear_models`` names its runs (in its sweeps' order)."""
ALGORITHM_OF: dict[str, str] = {"local": "local", "decl": "gossip", "fl": "fedavg"}
FRAMEWORK_OF: dict[str, str] = {algorithm: framework for framework, algorithm in ALGORITHM_OF.items()}
LABELS: dict[str, str] = {"local": "local", "decl": "DecL (gossip)", "fl": "FL (FedAvg)"}
"""How figures and tables label each framework."""


def as_framework(name: str, param: str = "framework") -> str:
    """The framework (local, decl, fl) that ``name`` stands for, in either vocabulary."""
    require(name in FRAMEWORKS or name in FRAMEWORK_OF, param,
            f"a framework {FRAMEWORKS} or its algorithm {ALGORITHMS}", name)
    return name if name in FRAMEWORKS else FRAMEWORK_OF[name]


def as_algorithm(name: str, param: str = "framework") -> str:
    """The algorithm (local, fedavg, gossip) that trains ``name``, in either vocabulary."""
    return ALGORITHM_OF[as_framework(name, param)]
