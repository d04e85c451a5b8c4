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


class FileProblem(ParameterError):
    """A file that exists (or should) but cannot be used: unreadable, damaged, or of another kind.

    The message is one line, ``"<path>: <problem> (expected <what>)"``, so that command-line
    front ends print it as it is and exit with status 2, as for any :class:`ParameterError`.
    The file is left as it is: nothing that raises this modifies, moves or removes it.
    """

    def __init__(self, path: object, problem: str, expected: str) -> None:
        super().__init__(str(path), expected, problem)
        self.path = path
        self.problem = problem
        self.args = (f"{path}: {problem} (expected {expected})",)

    def __str__(self) -> str:
        return str(self.args[0])
