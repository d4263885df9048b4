"""The project's documented errors.

Every failure a user can cause (a bad file, a bad flag, a bad row) is a ``BadInputError`` whose
message says what and where; the CLI turns it into one line on stderr and exit code 2. A job that
was set up right but failed while running is a ``JobFailedError`` (exit 1). Anything else escaping
the library is a bug.
"""

from __future__ import annotations

from pathlib import Path


class CleanerClipError(Exception):
    """Base of all errors cleanerclip raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, where: str | Path | None = None, hint: str | None = None) -> None:
        self.message = message
        self.where = str(where) if where is not None else None
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The message as the CLI prints it: ``where: what (hint)``."""
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text = f"{text} — {self.hint}"
        return text


class BadInputError(CleanerClipError):
    """The user's input (file, flag, row, spec) is wrong; exit 2."""

    exit_code = 2


class UnsafeCheckpointError(BadInputError):
    """A checkpoint needs arbitrary unpickling, which can run code; refused without trust."""


class ModelResolveError(BadInputError):
    """A MODEL spec could not be resolved to a model (unknown arch, offline without cache, ...)."""


class DataError(BadInputError):
    """A data set (CSV, folder, image) is unusable as given."""


class JobFailedError(CleanerClipError):
    """The job was valid but failed while running; exit 1."""

    exit_code = 1


class GateFailedError(CleanerClipError):
    """A scan gate (``--fail-above``, ``--fail-on-discovery``) found a backdoor it was told to fail on; exit 3.

    Not a failure of the tool: the scan ran and its answer is "do not deploy this model". Exit 3 keeps
    that answer apart from bad input (2) and a failed job (1), so a CI pipeline can tell them apart.
    """

    exit_code = 3
