"""Errors the CLI turns into one readable line and a non-zero exit."""


class CliError(Exception):
    """A problem the user can fix (bad file, bad option); printed without a traceback."""
