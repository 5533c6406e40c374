"""Errors that the CLI reports as one line and a non-zero exit (never a traceback)."""


class UserError(Exception):
    """Bad input from the user: a missing file, a corrupt table, a mismatched checkpoint, ..."""


class InvalidArchitecture(ValueError):
    """An architecture (or its text form) that the space rejects; the message says why in words.

    Defined here rather than in `spaces.base` (which re-exports it) so that the CLI can catch it
    without importing numpy before it has even parsed its arguments.
    """
