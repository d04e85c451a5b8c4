"""Errors a user can cause, each naming the parameter and what is allowed."""

from __future__ import annotations


class ParameterError(ValueError):
    """A parameter outside its allowed range.

    The message always has the form ``"<name>: <allowed>, got <value>"`` so that
    command-line front ends can print it as one line and exit with status 2.
    """

    def __init__(self, name: str, allowed: str, value: object) -> None:
        self.name = name
        self.allowed = allowed
        self.value = value
        super().__init__(f"{name}: must be {allowed}, got {value!r}")


def require(condition: bool, name: str, allowed: str, value: object) -> None:
    """Raise :class:`ParameterError` unless ``condition`` holds."""
    if not condition:
        raise ParameterError(name, allowed, value)
