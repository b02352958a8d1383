"""The one exception tree of Wayfare.

::

    WayfareError                      anything Wayfare raises on purpose
    ├── ConfigurationError            settings that cannot work (bad database URL, ...)
    ├── NotFound                      an application, customer, journey, ... that does not exist
    ├── Conflict                      a duplicate name or id, a stale version
    ├── InvalidInput                  user input that breaks the rules (``problems``)
    │   ├── ImportFailed              a CSV / JSONL import rejected (line, column, reason)
    │   └── JourneyInvalid            a journey that does not validate (state id, field path)
    └── InvalidTransition             a lifecycle change that is not allowed

Each class's docstring is its default message. The API maps these to HTTP errors in one place;
the CLI prints ``str(error)`` on one line and exits with ``exit_code``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with some input, located precisely.

    ``where`` names the place the way a user reads it: ``line 12, column "age"`` for a file,
    ``state 3: params.forward`` for a journey, ``customers[4].data.age`` for an API body.
    """

    where: str
    message: str
    code: str = "invalid"

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class WayfareError(Exception):
    """Wayfare failed."""

    exit_code = 1
    error_code = "error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (type(self).__doc__ or "").strip().splitlines()[0])

    @property
    def message(self) -> str:
        """The message, for one line of output."""
        return str(self.args[0])


class ConfigurationError(WayfareError):
    """The configuration cannot work."""

    error_code = "configuration"


class NotFound(WayfareError):
    """Not found."""

    error_code = "not_found"


class Conflict(WayfareError):
    """That conflicts with what is already stored."""

    error_code = "conflict"


class InvalidTransition(WayfareError):
    """That change of lifecycle is not allowed."""

    error_code = "invalid_transition"


class InvalidInput(WayfareError):
    """The input is not valid."""

    error_code = "invalid_input"

    def __init__(self, message: str | None = None, problems: Sequence[Problem] = ()) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        if message is None and self.problems:
            first = str(self.problems[0])
            more = len(self.problems) - 1
            message = first if not more else f"{first} (and {more} more problem(s))"
        super().__init__(message)


class ImportFailed(InvalidInput):
    """The import was rejected; nothing was stored."""

    error_code = "import_failed"


class JourneyInvalid(InvalidInput):
    """The journey is not valid."""

    error_code = "journey_invalid"
