"""Errors a user can act on: every message names the problem and the fix.

The CLI prints a :class:`FlipspikeError` as one line and exits 2; anything else is a bug in flipspike
and keeps its traceback. Each class also derives from the built-in exception a Python caller would
expect (``ValueError``, ``FileNotFoundError``, ...), so ``except ValueError`` keeps working."""


class FlipspikeError(Exception):
    """Base class of every error flipspike reports to a user (the CLI prints these without a traceback)."""


class DescriptionError(FlipspikeError, ValueError):
    """A network description is malformed, inconsistent, or would overflow its declared widths."""


class FoldingError(FlipspikeError, ValueError):
    """A SIMD/PE folding does not divide a layer's shape."""


class ConfigError(FlipspikeError, ValueError):
    """An option or setting is unknown, out of range, or does not go with another one."""


class DataError(FlipspikeError, ValueError):
    """Input data (samples, a dataset file) does not have the shape, range or format required."""


class MissingFileError(FlipspikeError, FileNotFoundError):
    """A file or directory the command reads does not exist."""


class OutputPathError(FlipspikeError, OSError):
    """An output file or directory cannot be written where it was asked for."""
