"""Figures from cached results: ``python -m figures <name|all>`` (see ``figures.__main__``)."""
