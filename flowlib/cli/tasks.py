"""The commands on one task and its flow: ``flowlib run``, ``preview``, ``show``, ``invalidate``, ``verify``, ``graph``.

Example:
    $ flowlib run examples.ml_workflow:Train --scale 2 --workers 2
    $ flowlib preview examples/ml_workflow.py:Evaluate --C 0.1
    $ flowlib graph examples.ml_workflow:Evaluate --format dot -o flow.dot
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import flowlib
from flowlib.cli.common import EXIT_FAILED, EXIT_OK, UsageError, error, make_tasks
from flowlib.invalidate import invalidate_tasks
from flowlib.plan import build_plan
from flowlib.storage import human_size
from flowlib.task import Task

__all__ = ["add_commands"]


# -- the commands ----------------------------------------------------------------------------
def _cmd_run(args: argparse.Namespace, extra: Sequence[str]) -> int:
    (task,) = make_tasks([args.target], extra)
    result = flowlib.run(
        task,
        workers=args.workers,
        scheduler=args.scheduler,
        forced_all=args.forced_all,
        forced_all_upstream=args.forced_all_upstream,
        confirm=args.confirm,
        abort=False,
        progress=False if args.no_progress else None,
        execution_summary=False,
    )
    print(result)
    if result.cancelled:
        error("cancelled: nothing ran")
        return EXIT_FAILED
    if not result:
        for outcome in result.outcomes:
            if outcome.error:
                print(f"\n--- {outcome.task} failed ---\n{outcome.error.rstrip()}")
        first = result.failed[0] if result.failed else result.not_run[0]
        last = result.outcome(first).error.strip().splitlines()[-1:] or [str(result.outcome(first).outcome)]
        hint = "; choose a writable root with --dir PATH" if "StorageError" in last[0] else ""
        error(f"run failed: {first}: {last[0]}{hint}")
        return EXIT_FAILED
    return EXIT_OK


def _cmd_preview(args: argparse.Namespace, extra: Sequence[str]) -> int:
    (task,) = make_tasks([args.target], extra)
    print(flowlib.preview(task, show=False).text)
    return EXIT_OK


def _cmd_show(args: argparse.Namespace, extra: Sequence[str]) -> int:
    (task,) = make_tasks([args.target], extra)
    plan = build_plan([task])
    node = plan.roots[0]
    reason = f"  ({node.reason})" if node.reason and not node.complete else ""
    lines = [f"{task}  {node.status.value}{reason}", f"  task_id   {task.task_id}"]
    if isinstance(task, Task):
        storage = task.storage()
        lines.append(f"  root      {storage.url}")
        lines.append(f"  format    {task.target_class.name or task.target_class.__name__}")
        lines.append("  outputs")
        record = task.metadata()
        for key, target in task.output().items():
            exists = target.exists()
            size = f", {human_size(storage.size(target.path))}" if exists and task.target_class.is_file else ""
            info = record.outputs.get(key) if record is not None and exists else None
            rows = info.rows if info is not None else None
            size += f", {rows} rows" if rows is not None else ""
            lines.append(f"    {key:<10} {target.path}  ({'exists' if exists else 'missing'}{size})")
        if record is not None:
            lines.append(f"  ran       {record.started or '?'} in {record.duration:.2f}s")
            if record.metadata:
                lines.append(f"  metadata  {record.metadata}")
    else:
        lines.append("  (a plain luigi task: flowlib persists nothing for it)")
    if node.deps:
        lines.append("  requires")
        lines.extend(f"    {dep.task}  {dep.status.value}" for dep in node.deps)
    print("\n".join(lines))
    return EXIT_OK


def _cmd_invalidate(args: argparse.Namespace, extra: Sequence[str]) -> int:
    targets = [args.target] + ([args.downstream_to] if args.downstream_to else [])
    tasks = make_tasks(targets, extra)
    task = tasks[0]
    if args.downstream_to:
        plan = build_plan([tasks[1]], rerun_stale=False)
        start = plan.node(task)
        between = {n.task_id for n in plan.downstream_of([start])} & {n.task_id for n in plan.upstream_of(plan.roots)}
        chosen = [n.task for n in plan.nodes if n.task_id in between]
    elif args.upstream:
        chosen = [n.task for n in build_plan([task], rerun_stale=False).nodes]
    else:
        chosen = [task]
    chosen = [t for t in chosen if isinstance(t, Task)]
    if not chosen:
        raise UsageError(f"{task} is not a flowlib task; flowlib removes only outputs it persists")
    ask = not args.yes and sys.stdin.isatty()
    if not invalidate_tasks(chosen, confirm=ask):
        print("nothing removed")
        return EXIT_FAILED
    print(f"invalidated {len(chosen)} task(s):")
    print("\n".join(f"  {t}" for t in chosen))
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace, extra: Sequence[str]) -> int:
    try:
        from flowlib.verify import verify
    except ImportError as exc:  # pragma: no cover - flowlib.verify ships with flowlib
        raise UsageError(f"flowlib verify is not available in this installation ({exc})") from exc

    (task,) = make_tasks([args.target], extra)
    report = verify(task, fingerprints=not args.no_fingerprints, deep=args.deep)
    print(report)
    if report:
        if args.invalidate:
            removed = report.invalidate()
            print(f"removed the outputs of {len(removed)} damaged task(s); the next run redoes them")
        error(f"{len(report)} bad output(s), first: {report[0]}")
        return EXIT_FAILED
    return EXIT_OK


def _cmd_graph(args: argparse.Namespace, extra: Sequence[str]) -> int:
    from flowlib.pictures import graph

    (task,) = make_tasks([args.target], extra)
    picture = graph(task)
    if args.output:
        print(f"wrote {picture.save(args.output)}")
        return EXIT_OK
    text = {"mermaid": picture.to_mermaid, "dot": picture.to_dot, "svg": picture.to_svg}[args.format]()
    sys.stdout.write(text)
    return EXIT_OK


# -- their parsers ---------------------------------------------------------------------------
def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument(
        "target",
        metavar="MODULE:TASK",
        help="the task: a module importable from here, or a .py file, then ':' and the task class",
    )
    common.add_argument(
        "--dir",
        metavar="ROOT",
        help="where outputs live (a path or fsspec URL); default: "
        "FLOWLIB_DIR, else [flowlib] dir in luigi's config, else ./data",
    )
    common.add_argument(
        "--log-level",
        default=None,
        metavar="LEVEL",
        help="show flowlib's and luigi's log messages on stderr from this level (e.g. info)",
    )
    return common


_EPILOG = "task parameters follow the task as --name value (e.g. --scale 2 --max-depth 3)"


def _task_command(
    commands: Any, common: argparse.ArgumentParser, name: str, handler: Any, *, help: str, description: str
) -> argparse.ArgumentParser:
    """A subcommand that takes a task and its parameters (``common``: the options every task command shares)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, parents=[common], allow_abbrev=False, epilog=_EPILOG, help=help, description=description
    )
    parser.set_defaults(handler=handler)
    return parser


def add_commands(commands: Any) -> None:
    """Add ``run``, ``preview``, ``show``, ``invalidate``, ``verify`` and ``graph`` to the ``flowlib`` subparsers."""
    common = _common()
    run = _task_command(
        commands,
        common,
        "run",
        _cmd_run,
        help="run a task and everything it needs that is not complete",
        description="Run a task and everything it requires that is not complete.",
    )
    run.add_argument("--workers", type=int, default=1, help="how many tasks run at once (default 1)")
    run.add_argument(
        "--scheduler",
        metavar="URL",
        default=None,
        help="run on the luigid at URL (default: FLOWLIB_SCHEDULER, else [flowlib] scheduler, else local)",
    )
    run.add_argument("--forced-all", action="store_true", help="rerun the task even if it is complete")
    run.add_argument("--forced-all-upstream", action="store_true", help="rerun every task of the flow")
    run.add_argument("--confirm", action="store_true", help="show the plan and ask before running")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")

    _task_command(
        commands,
        common,
        "preview",
        _cmd_preview,
        help="print the task's dependency tree with each task's status",
        description="Print the dependency tree with each task's status.",
    )

    _task_command(
        commands,
        common,
        "show",
        _cmd_show,
        help="show a task's status, outputs, paths and record",
        description="Show one task: status, outputs and their paths, its record.",
    )

    invalidate = _task_command(
        commands,
        common,
        "invalidate",
        _cmd_invalidate,
        help="remove a task's outputs (and upstream / down to another task)",
        description="Remove outputs so tasks run again. Asks first in a terminal.",
    )
    which = invalidate.add_mutually_exclusive_group()
    which.add_argument("--upstream", action="store_true", help="also everything the task requires, recursively")
    which.add_argument(
        "--downstream-to",
        metavar="MODULE:TASK",
        help="also this downstream task and every task on a path between the two",
    )
    invalidate.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    verify = _task_command(
        commands,
        common,
        "verify",
        _cmd_verify,
        help="check every output of the flow on disk against its record",
        description="Check every output of the flow: present, readable, as recorded.",
    )
    verify.add_argument("--no-fingerprints", action="store_true", help="skip hashing the files (faster)")
    verify.add_argument("--deep", action="store_true", help="load every output fully (unpickles: trusted roots only)")
    verify.add_argument("--invalidate", action="store_true", help="remove the outputs of damaged tasks")

    picture = _task_command(
        commands,
        common,
        "graph",
        _cmd_graph,
        help="print the flow's DAG as Mermaid, Graphviz DOT or SVG",
        description="Print the flow's DAG, each task coloured by status.",
    )
    picture.add_argument(
        "--format",
        choices=["mermaid", "dot", "svg"],
        default="mermaid",
        help="mermaid (default), dot, or svg (needs Graphviz)",
    )
    picture.add_argument("--output", "-o", metavar="FILE", help="write to FILE (.mmd, .dot or .svg) instead")
