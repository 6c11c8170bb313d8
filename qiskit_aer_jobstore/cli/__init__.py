"""``aer-jobs``: the job store from a terminal, a thin layer of click commands over ``JobStore``.

Exit codes: 0 ok, 1 not found / nothing matched / failed, 2 bad usage. Errors are one line on
stderr; ``--debug`` adds the traceback. Every command that outputs data takes ``--json``.
"""

from . import diff, jobs, maintenance, team, ui  # noqa: F401  (registers the commands)
from .base import cli, main

__all__ = ["cli", "main"]
