"""The command line: `deckgen` (the entry point is `main`), a thin shell over the library.

shell.py holds the group, the shared options and what reaches the terminal; commands.py
the commands. Only this package prints or chooses an exit status.
"""

from . import commands  # noqa: F401  (defines the commands on `main`)
from .shell import ProgressBars, main

__all__ = ["ProgressBars", "main"]

if __name__ == "__main__":  # pragma: no cover
    main()
