"""``flowlib adopt-d6tflow MODULE:TASK ... --dir data``: take over the outputs d6tflow wrote for these flows.

Example:
    $ flowlib adopt-d6tflow flows.py:TaskTrain --dir data
    $ flowlib adopt-d6tflow flows.py:TaskTrain --model svm --dir old-data --into data --copy
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import flowlib
from flowlib.cli.common import load_task_class, parse_task_params

__all__ = ["add_commands"]


def _cmd_adopt(args: argparse.Namespace, extra: Sequence[str]) -> int:
    from flowlib.d6tflow import adopt

    if args.into:
        flowlib.set_dir(args.into)
    classes = [load_task_class(target) for target in args.targets]
    tasks = [cls(**values) for cls, values in zip(classes, parse_task_params(classes, extra))]
    report = adopt(tasks, dirpath=args.dir, copy=args.copy)
    print(report)
    return 0 if report else 1


def add_commands(commands: Any) -> None:
    """Add the ``adopt-d6tflow`` command to the ``flowlib`` parser's subcommands."""
    adopt = commands.add_parser(
        "adopt-d6tflow",
        allow_abbrev=False,
        help="take over the outputs d6tflow wrote for these tasks, so flowlib does not rerun them",
        description="Find the outputs d6tflow wrote for the tasks and everything upstream, check that each "
        "loads, and take them over into flowlib's layout with records. Exit code 1 if some file cannot be read.",
        epilog="task parameters follow as --name value; each task takes the ones it has",
    )
    adopt.add_argument("targets", nargs="+", metavar="MODULE:TASK", help="the flows' final tasks")
    adopt.add_argument("--dir", default="data", metavar="DIR",
                       help="d6tflow's output folder (default ./data); also flowlib's root unless --into")  # fmt: skip
    adopt.add_argument("--into", metavar="ROOT", help="flowlib's root, when it is not d6tflow's folder")
    adopt.add_argument("--copy", action="store_true", help="copy the files (default: move them)")
    adopt.add_argument("--log-level", default=None, metavar="LEVEL", help="show log messages from this level")
    adopt.set_defaults(handler=_cmd_adopt)
