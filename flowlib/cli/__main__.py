"""``python -m flowlib.cli ...``: the ``flowlib`` command.

Example:
    $ python -m flowlib.cli preview examples.ml_workflow:Evaluate
"""

import sys

from flowlib.cli import main

__all__: list[str] = []

sys.exit(main())
