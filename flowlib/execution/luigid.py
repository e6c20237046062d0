"""Run a plan on luigi's worker against a central scheduler (``luigid``).

``flowlib.run(tasks, scheduler="http://host:8082")`` hands the flow to luigi on this backend:
luigi's worker asks ``luigid`` for work, so several processes (on several
machines sharing one storage root) can run one flow together, and ``luigid``
gives each task to exactly one of them. flowlib then maps luigi's outcome back
to a :class:`~flowlib.result.RunResult`.

What differs from the local executor:

* **forced tasks**: luigi only runs incomplete tasks, so the outputs of forced
  tasks (and of what is forced downstream of them) are removed before the flow
  is handed over; STALE tasks need no such help, since ``Task.complete()`` reads
  the same plan and reports them incomplete (their outputs stay until replaced).
* **waiting for other workers**: luigi's worker leaves when only tasks running on
  other workers are left; flowlib then waits for those and asks again, so that
  when ``run`` returns the whole flow is complete (or something failed).
* **abort**: luigi's worker finishes what it can before flowlib raises.

Example:
    >>> flowlib.run(Train(scale=2.0), scheduler="http://127.0.0.1:8082")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import luigi
import luigi.configuration
import luigi.rpc
import luigi.worker

# luigi's own categories of its summary (completed, failed, run by other workers...): luigi has no public
# API that tells which tasks another worker ran, so flowlib reads them where luigi's summary does.
from luigi.execution_summary import _summary_dict

from flowlib.completion import completion_cache
from flowlib.errors import FlowlibError
from flowlib.execution.backend import Backend, Execution, RunOptions
from flowlib.execution.transaction import discard_outputs
from flowlib.plan import Plan, build_plan
from flowlib.result import Outcome, TaskOutcome
from flowlib.settings import settings
from flowlib.task import Task

__all__ = ["LuigidBackend", "normalise_url", "POLL_SECONDS"]

logger = logging.getLogger(__name__)

#: How long to wait before asking again while other workers run tasks of this flow.
POLL_SECONDS = 1.0


def normalise_url(url: str) -> str:
    """``host:port`` or ``http://host:port`` -> ``http://host:port/`` (what luigi's RPC client takes).

    Example:
        >>> normalise_url("127.0.0.1:8082")
        'http://127.0.0.1:8082/'
    """
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FlowlibError(f"scheduler URL {url!r} is not an http(s) URL; use e.g. http://127.0.0.1:8082")
    return text if text.endswith("/") else text + "/"


def _check_reachable(url: str, timeout: float = 5.0) -> None:
    """Fail fast (luigi's client would retry for 90 s) when nothing listens at ``url``."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        raise FlowlibError(
            f"cannot reach the luigi scheduler at {url} ({exc}); start it with `luigid --port {port}`, "
            "or fix flowlib.run(scheduler=...), FLOWLIB_SCHEDULER or `[flowlib] scheduler` in luigi's config"
        ) from exc


class _Factory:
    """luigi's worker/scheduler factory, keeping the scheduler client for the questions asked afterwards."""

    def __init__(self, url: str) -> None:
        self.scheduler = luigi.rpc.RemoteScheduler(url)

    def create_local_scheduler(self) -> Any:  # pragma: no cover - flowlib always passes a URL
        raise FlowlibError("flowlib's central runner needs a scheduler URL")

    def create_remote_scheduler(self, url: str) -> Any:
        return self.scheduler

    def create_worker(self, scheduler: Any, worker_processes: int, assistant: bool = False) -> Any:
        return luigi.worker.Worker(scheduler=scheduler, worker_processes=worker_processes, assistant=assistant)


@contextlib.contextmanager
def _pinned_rerun_stale(value: bool) -> Iterator[None]:
    """Make ``Task.complete()`` (asked by luigi's worker) judge staleness as this plan did."""
    before = settings.rerun_stale_override
    settings.rerun_stale_override = value
    try:
        yield
    finally:
        settings.rerun_stale_override = before


def _logging_options() -> dict[str, str]:
    """luigi logs its worker's every step at DEBUG unless configured: keep it to warnings by default."""
    config = luigi.configuration.get_config()
    if config.get("core", "log_level", None) or config.get("core", "logging_conf_file", None):
        return {}
    return {"log_level": "WARNING"}


def _ids(tasks: Any) -> set[str]:
    return {task.task_id for task in tasks}


def _check_memory(plan: Plan, workers: int) -> None:
    if workers == 1:
        return  # luigi runs tasks in this process: memory outputs stay visible
    for node in plan.nodes:
        task = node.task
        if not isinstance(task, Task):
            continue
        if not task.target_class.is_file or getattr(task.storage(), "protocol", "") == "memory":
            raise FlowlibError(
                f"{task} keeps its outputs in this process's memory, which luigi's worker processes cannot share; "
                "run it with workers=1, or give it a file format and a shared root (a path, s3://...)"
            )


def _scheduler_task(scheduler: Any, task_id: str) -> dict[str, Any]:
    """luigid's view of one task (``status``, ``last_updated``...); empty when it cannot say."""
    try:
        found = scheduler.task_search(task_str=task_id) or {}
    except Exception as exc:  # noqa: BLE001 - only used to explain or pace, never to decide success
        logger.debug("could not ask the scheduler about %s: %s", task_id, exc)
        return {}
    for status, tasks in found.items():
        if task_id in tasks:
            return dict(tasks[task_id], status=status)
    return {}


def _scheduler_error(scheduler: Any, task_id: str) -> str:
    """The traceback luigid holds for a failed task (luigi stores it JSON-encoded)."""
    try:
        text = (scheduler.fetch_error(task_id=task_id) or {}).get("error") or ""
    except Exception as exc:  # noqa: BLE001
        logger.debug("could not fetch the error of %s: %s", task_id, exc)
        return ""
    with contextlib.suppress(ValueError, TypeError):
        text = json.loads(text)
    text = str(text)
    return text.removeprefix("Runtime error:\n")


def _cooldown() -> float:
    return float(luigi.configuration.get_config().getint("scheduler", "stable_done_cooldown_secs", 10))


def _wait_for_cooldown(scheduler: Any, task_ids: list[str]) -> None:
    """luigid ignores "run it again" for a task it saw finish less than a cooldown ago: wait that out."""
    cooldown = _cooldown()
    if cooldown <= 0:
        return
    latest = 0.0
    for task_id in task_ids:
        info = _scheduler_task(scheduler, task_id)
        if info.get("status") == "DONE":
            latest = max(latest, float(info.get("last_updated") or 0))
    wait = min(cooldown, latest + cooldown - time.time()) if latest else 0.0
    if wait > 0:
        logger.info("forced tasks finished %.1fs ago; waiting %.1fs for luigid's cooldown", cooldown - wait, wait)
        time.sleep(wait + 0.1)


class LuigidBackend(Backend):
    """Runs a plan on luigi's worker against the ``luigid`` at ``url``; see the module docstring."""

    name = "luigid"

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)

    def execute(self, plan: Plan, options: RunOptions) -> Execution:
        url, workers, abort = self.url, options.workers, options.abort
        _check_memory(plan, workers)
        todo = plan.to_run()
        if not todo:
            return Execution(_outcomes(plan, set(), set(), {}, set(), None), scheduler=url)
        _check_reachable(url)
        forced = [n.task for n in todo if n.forced and isinstance(n.task, Task)]
        for task in forced:
            discard_outputs(task)
        if forced:
            logger.info("removed the outputs of %d forced task(s) so luigi runs them again", len(forced))
        factory = _Factory(url)
        if forced:
            _wait_for_cooldown(factory.scheduler, [t.task_id for t in forced])
        roots = [node.task for node in plan.roots]
        ran: set[str] = set()
        failed: dict[str, str] = {}
        summaries: list[str] = []
        with _pinned_rerun_stale(plan.rerun_stale):
            while True:
                with completion_cache.scheduling_pass():  # luigi asks complete() of every task it meets
                    luigi_result = luigi.build(
                        roots,
                        worker_scheduler_factory=factory,
                        detailed_summary=True,
                        scheduler_url=url,
                        workers=workers,
                        **_logging_options(),
                    )
                summaries.append(luigi_result.summary_text)
                parts = _summary_dict(luigi_result.worker)
                ran |= _ids(parts["completed"])
                for task in parts["failed"] | parts["scheduling_error"]:
                    failed.setdefault(task.task_id, "")
                elsewhere = parts["run_by_other_worker"] | parts["upstream_run_by_other_worker"]
                if (failed and abort) or not elsewhere:
                    break
                logger.info(
                    "waiting for %d task(s) running on other workers: %s",
                    len(elsewhere),
                    ", ".join(sorted(map(str, elsewhere))[:5]),
                )
                time.sleep(POLL_SECONDS)
            final = build_plan(roots, rerun_stale=plan.rerun_stale)
        now_complete = {node.task_id for node in final.nodes if node.complete}
        outcomes = _outcomes(plan, ran, now_complete, failed, {n.task_id for n in todo}, factory.scheduler)
        first = next((o for o in outcomes if o.outcome is Outcome.FAILED), None)
        return Execution(outcomes, first, None, scheduler=url, extra={"luigi_summary": summaries[-1]})


def _outcomes(
    plan: Plan,
    ran: set[str],
    now_complete: set[str],
    failed: dict[str, str],
    pending: set[str],
    scheduler: Any,
) -> tuple[TaskOutcome, ...]:
    """One outcome per node of ``plan``, dependencies first."""
    result: dict[str, TaskOutcome] = {}
    for node in plan.nodes:
        task, task_id = node.task, node.task_id
        if task_id in ran:
            outcome = TaskOutcome(task, Outcome.RAN, node.reason)
        elif task_id in now_complete or task_id not in pending:
            why = "completed by another worker" if task_id in pending else ""
            outcome = TaskOutcome(task, Outcome.COMPLETE, why)
        else:
            status = _scheduler_task(scheduler, task_id).get("status", "") if scheduler is not None else ""
            error = _scheduler_error(scheduler, task_id) if status in ("FAILED", "DISABLED") else ""
            upstream = any(result[d.task_id].outcome in (Outcome.FAILED, Outcome.UPSTREAM_FAILED) for d in node.deps)
            if task_id in failed or status in ("FAILED", "DISABLED"):
                where = "" if task_id in failed else "failed on another worker"
                error = error or failed.get(task_id) or "failed (luigid holds no traceback)"
                outcome = TaskOutcome(task, Outcome.FAILED, where, error)
            elif upstream:
                outcome = TaskOutcome(task, Outcome.UPSTREAM_FAILED, node.reason)
            elif status == "DONE":
                outcome = TaskOutcome(
                    task,
                    Outcome.NOT_RUN,
                    "luigid saw it finish moments ago and ignored the request to run it again "
                    "([scheduler] stable_done_cooldown_secs); run again after that delay",
                )
            else:
                outcome = TaskOutcome(task, Outcome.NOT_RUN, f"left {status or 'pending'} by the scheduler")
        result[task_id] = outcome
    return tuple(result[node.task_id] for node in plan.nodes)
