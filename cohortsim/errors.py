"""Exceptions shared across the package that the command line maps to exit status 2."""


class UsageError(Exception):
    """A bad command-line option or run setting (exit status 2, nothing written)."""
