"""Hypothesis profiles: ``ci`` (default) and ``fast``; choose with HYPOTHESIS_PROFILE."""

import os

from hypothesis import settings

settings.register_profile("ci", max_examples=50, deadline=None)
settings.register_profile("fast", max_examples=10, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
