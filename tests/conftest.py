"""Shared test set-up: hypothesis profiles and a one-thread torch fixture for the tiny-model tests.

Profiles (choose with HYPOTHESIS_PROFILE): ``ci`` (default) draws the same 50 examples per
test on every run, so that CI is reproducible; ``explore`` draws 500 fresh ones (run it to
look for new counterexamples); ``fast`` draws 10.
"""

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=50, deadline=None, derandomize=True)
settings.register_profile("explore", max_examples=500, deadline=None)
settings.register_profile("fast", max_examples=10, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models: torch's intra-op threads only add synchronisation, which on a loaded
    2-core machine made these files up to 10x slower. Restored after the module."""
    import torch  # only the torch test modules use this fixture

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
