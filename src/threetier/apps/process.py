"""An app process's start-up: the contract's derived variables into its own environment,
the app's directory onto sys.path. Standard library only (runs in the app's venv).

>>> prepare()   # then DATABASE_URL, PGHOST..., THREETIER_SECRET_KEY are set
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

from threetier.runtime import contract


def prepare(environ: MutableMapping[str, str] = os.environ) -> None:  # noqa: B006 - the process's own, on purpose
    environ.update(contract.process_environment(environ))
    directory = environ.get(contract.APP_DIR)
    if directory and directory not in sys.path:
        sys.path.insert(0, directory)
