"""Trained linear models of Chen et al. (ICLR 2026): JAX solvers, FedAvg and gossip, checks.

The sampled twin of ``theory``: the same objectives, trained by minibatch SGD with fresh
views (float64, jit, vmapped over clients), compared with the closed forms of ``theory``.
"""

from .checks import claims_from_results, sampled_checks, sampled_configs
from .distributed import (FRAMEWORKS, History, RunOutput, Schedule, compress, gossip_mix, run_fedavg, run_gossip,
                          run_local)
from .experiment import METHOD_DEFAULTS, RunConfig, config_key, run
from .objectives import METHODS, init_params, representation_rows
from .optim import adam, sgd
from .solvers import Data, ExactSolution, StepSpec, TopC, exact_solution, fit, fit_population, top_c

__all__ = [
    "METHODS", "FRAMEWORKS", "METHOD_DEFAULTS",
    "RunConfig", "config_key", "run",
    "Data", "StepSpec", "Schedule", "History", "RunOutput",
    "top_c", "TopC", "exact_solution", "ExactSolution", "fit", "fit_population",
    "run_local", "run_fedavg", "run_gossip", "gossip_mix", "compress",
    "init_params", "representation_rows", "sgd", "adam",
    "sampled_checks", "sampled_configs", "claims_from_results",
]
