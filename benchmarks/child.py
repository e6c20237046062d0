"""Entry point of one measurement subprocess: ``python -m benchmarks.child MODULE:FUNCTION JSON_KWARGS``.

The function returns a dict; this prints it as one JSON line after :data:`MARKER`, with the
process's peak memory added. An exception becomes ``{"error": "Type: message"}``, so the
report can say exactly why a case could not run.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from typing import Any

from benchmarks.timing import maxrss_bytes

__all__ = ["MARKER", "main"]

MARKER = "@@flowlib-bench@@ "


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= 400 else text[:400] + " ..."


def main(argv: list[str]) -> int:
    target, kwargs = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    module_name, _, function_name = target.partition(":")
    result: dict[str, Any]
    try:
        function = getattr(importlib.import_module(module_name), function_name)
        result = dict(function(**kwargs))
    except BaseException as exc:  # noqa: BLE001 - every failure is reported, RecursionError included
        result = {"error": _error_text(exc), "traceback": traceback.format_exc()[-3000:]}
    result["maxrss_bytes"] = maxrss_bytes()
    sys.stdout.flush()
    print(MARKER + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
