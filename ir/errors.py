"""Errors a user can act on: every message names the problem and the fix."""


class FlipspikeError(Exception):
    """Base class of every error flipspike reports to a user (the CLI prints these without a traceback)."""


class DescriptionError(FlipspikeError, ValueError):
    """A network description is malformed, inconsistent, or would overflow its declared widths."""


class FoldingError(FlipspikeError, ValueError):
    """A SIMD/PE folding does not divide a layer's shape."""
