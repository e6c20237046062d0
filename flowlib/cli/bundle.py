"""The ``flowlib bundle export|import|show`` commands: hand a finished flow to someone else.

Example:
    $ flowlib bundle export examples.ml_workflow:Evaluate --C 0.1 results.zip
    $ flowlib bundle show results.zip
    $ flowlib bundle import results.zip --dir data
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import luigi

from flowlib.cli.common import UsageError, load_task_class, parse_task_params

__all__ = ["add_commands"]


def _split_dest(cls: type[luigi.Task], extra: Sequence[str]) -> tuple[str, list[str]]:
    """DEST is the one argument that is not part of a ``--name value`` pair: the first, else the last."""
    tokens = list(extra)
    if tokens and not tokens[0].startswith("--"):
        return tokens[0], tokens[1:]
    if len(tokens) >= 2 and not tokens[-1].startswith("--"):
        before = tokens[-2]
        param = dict(cls.get_params()).get(before[2:].replace("-", "_"))
        # The last token is DEST unless it is the value of the ``--name`` before it.
        if not before.startswith("--") or "=" in before or isinstance(param, luigi.BoolParameter):
            return tokens[-1], tokens[:-1]
    raise UsageError("give the bundle's destination last: flowlib bundle export MODULE:TASK [--param value ...] DEST")


def _cmd_export(args: argparse.Namespace, extra: Sequence[str]) -> int:
    import flowlib

    cls = load_task_class(args.target)
    dest, tokens = _split_dest(cls, extra)
    (values,) = parse_task_params([cls], tokens)
    manifest = flowlib.export(cls(**values), dest, upstream=not args.no_upstream)
    print(f"exported {len(manifest.tasks)} tasks, {len(manifest.files())} files to {manifest.location}")
    return 0


def _cmd_import(args: argparse.Namespace, extra: Sequence[str]) -> int:
    import flowlib

    if extra:
        raise UsageError(f"unexpected argument {extra[0]!r}")
    manifest = flowlib.import_bundle(args.src, overwrite=args.overwrite)
    print(f"imported {len(manifest.tasks)} tasks, {len(manifest.files())} files into {flowlib.settings.dir}")
    return 0


def _cmd_show(args: argparse.Namespace, extra: Sequence[str]) -> int:
    from flowlib.bundle import read_manifest

    if extra:
        raise UsageError(f"unexpected argument {extra[0]!r}")
    print(read_manifest(args.src))
    return 0


def add_commands(commands: Any) -> None:
    """Add ``bundle export``, ``bundle import`` and ``bundle show`` to the ``flowlib`` command."""
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument("--log-level", default=None, metavar="LEVEL", help="show log messages from this level")
    bundle = commands.add_parser(
        "bundle",
        allow_abbrev=False,
        help="export a finished flow to a bundle, import one, show what one holds",
        description="Hand a finished flow to someone else: its outputs and records with a verified manifest.",
    )
    verbs = bundle.add_subparsers(dest="verb", metavar="VERB", required=True)

    export = verbs.add_parser(
        "export",
        parents=[common],
        allow_abbrev=False,
        usage="flowlib bundle export MODULE:TASK [--param value ...] DEST",
        help="write a complete task's outputs and records (and everything upstream) to DEST",
        description="Write the outputs and records of a complete task and everything upstream, with a manifest, "
        "to DEST: a new folder, a .zip, .tar or .tar.gz file, or an fsspec URL.",
        epilog="task parameters follow the task as --name value; DEST comes last",
    )
    export.add_argument("target", metavar="MODULE:TASK")
    export.add_argument("--dir", metavar="ROOT", help="where the task's outputs live (default: FLOWLIB_DIR ...)")
    export.add_argument("--no-upstream", action="store_true", help="only the task itself, not what it requires")
    export.set_defaults(handler=_cmd_export)

    load = verbs.add_parser(
        "import",
        parents=[common],
        allow_abbrev=False,
        help="verify every file of a bundle, then copy it into the root",
        description="Verify every file of the bundle against its manifest, then copy outputs and records into "
        "ROOT. Nothing is copied if a file is missing, truncated or corrupted.",
    )
    load.add_argument("src", metavar="SRC", help="the bundle: a folder, .zip, .tar or .tar.gz file, or an fsspec URL")
    load.add_argument("--dir", metavar="ROOT", help="the root to import into (default: FLOWLIB_DIR ...)")
    load.add_argument("--overwrite", action="store_true", help="replace tasks whose outputs there differ")
    load.set_defaults(handler=_cmd_import)

    show = verbs.add_parser(
        "show",
        parents=[common],
        allow_abbrev=False,
        help="print a bundle's manifest: tasks, files, sizes, flowlib version",
    )
    show.add_argument("src", metavar="SRC")
    show.set_defaults(handler=_cmd_show, dir=None)
