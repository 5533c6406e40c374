"""Errors that the CLI reports as one line and a non-zero exit (never a traceback)."""


class UserError(Exception):
    """Bad input from the user: a missing file, a corrupt table, a mismatched checkpoint, ..."""
