"""One row of the results table: a figure, its baseline, the target, what was measured, pass/fail.

Every ratio is ``flowlib / baseline`` (smaller is faster); "at least 5x faster" is ``<= 0.2x``.

Example:
    >>> fmt_seconds(0.01234)
    '12.3 ms'
    >>> fmt_ratio(0.02)
    '0.020x (50x faster)'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.harness import Measured

#: Other processes keeping this many CPUs busy during a measurement make it unreliable (noted in the row).
CONTENDED = 0.3

__all__ = ["CONTENDED", "contended", "Row", "compare", "check", "info", "fmt_seconds", "fmt_ratio", "fmt_bytes"]


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    return f"{seconds:.3g} s" if seconds < 100 else f"{seconds:.0f} s"


def fmt_ratio(ratio: float) -> str:
    text = f"{ratio:.3g}x" if ratio >= 0.1 else f"{ratio:.3f}x"
    if ratio < 0.5:
        text += f" ({1 / ratio:.0f}x faster)" if ratio > 0 else ""
    return text


def fmt_bytes(size: float) -> str:
    return f"{size / 2**30:.2f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


@dataclass
class Row:
    """A line of the table. ``passed`` is ``None`` for reference figures and for what could not be measured."""

    case: str
    figure: str
    flowlib: str
    baseline: str
    target: str
    measured: str
    passed: bool | None
    note: str = ""
    flowlib_seconds: float | None = None
    baseline_seconds: float | None = None
    ratio: float | None = None
    #: The target as a number: ``ratio <= limit`` passes (``None``: no ratio target).
    limit: float | None = None
    #: Every run behind the medians: ``{"flowlib": [...], "baseline": [...]}``.
    runs: dict[str, list[float]] = field(default_factory=dict)
    #: The flowlib side itself failed (an error, not a missed target).
    flowlib_failed: bool = False
    #: How to rerun the flowlib side under cProfile: ``(module:function, kwargs)``.
    profile: tuple[str, dict[str, Any]] | None = None
    #: The same for the baseline, to show where flowlib spends time the baseline does not.
    profile_baseline: tuple[str, dict[str, Any]] | None = None
    #: The baseline profile's times are multiplied by this (e.g. 10 for a flow 10 times smaller).
    profile_scale: float = 1.0

    def near_limit(self, margin: float) -> bool:
        """Passed, but with a ratio within ``margin`` (e.g. 0.9 = 90%) of its limit."""
        return bool(self.passed and self.limit and self.ratio is not None and self.ratio >= margin * self.limit)

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "**FAIL**", None: "—"}[self.passed]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(
    case: str,
    figure: str,
    flow: Measured,
    base: Measured,
    baseline_name: str,
    limit: float | None,
    *,
    profile: tuple[str, dict[str, Any]] | None = None,
    profile_baseline: tuple[str, dict[str, Any]] | None = None,
    note: str = "",
) -> Row:
    """``flowlib / baseline <= limit`` (``limit=None``: a reference figure, no target)."""
    target = "—" if limit is None else f"≤ {limit:.3g}x" + (f" ({1 / limit:.0f}x faster)" if limit < 0.5 else "")
    row = Row(
        case,
        figure,
        fmt_seconds(flow.seconds),
        f"{baseline_name}: {fmt_seconds(base.seconds)}",
        target,
        "not measured",
        None,
        note,
        flow.seconds,
        base.seconds,
        profile=profile,
        profile_baseline=profile_baseline,
        limit=limit,
    )
    if not flow.ok:
        row.passed, row.flowlib_failed = (False if limit is not None else None), True
        row.note = _join(note, f"flowlib: {flow.describe_error()}")
        return row
    if not base.ok:
        row.baseline = f"{baseline_name}: {'did not finish' if base.details.get('timeout') else 'failed'}"
        row.note = _join(note, f"{baseline_name} could not be measured: {base.describe_error()}")
        return row
    assert flow.seconds is not None and base.seconds is not None
    row.ratio = flow.seconds / base.seconds
    row.runs = {"flowlib": list(flow.runs), "baseline": list(base.runs)}
    contention = max(flow.others + base.others, default=0.0)
    if contention >= CONTENDED:
        row.note = _join(
            row.note, f"contended: other processes kept up to {contention:.1f} CPUs busy during these runs"
        )
    row.measured = fmt_ratio(row.ratio)
    row.passed = None if limit is None else row.ratio <= limit
    return row


def check(
    case: str,
    figure: str,
    value: str,
    passed: bool | None,
    target: str,
    *,
    flowlib: str = "",
    baseline: str = "—",
    note: str = "",
    profile: tuple[str, dict[str, Any]] | None = None,
    profile_baseline: tuple[str, dict[str, Any]] | None = None,
    profile_scale: float = 1.0,
    failed: bool = False,
) -> Row:
    """A figure judged by a condition rather than a ratio (lines per task, memory, recursion limit).

    ``failed``: flowlib itself raised an error (``note`` says which).
    """
    row = Row(case, figure, flowlib or "—", baseline, target, value, passed, note, profile=profile)
    row.profile_baseline, row.profile_scale, row.flowlib_failed = profile_baseline, profile_scale, failed
    return row


def info(case: str, figure: str, measured: Measured, baseline: str = "—", note: str = "") -> Row:
    """A reference figure of another library (no target): its time, or why it has none."""
    if measured.ok:
        return Row(
            case,
            figure,
            "—",
            baseline,
            "—",
            fmt_seconds(measured.seconds),
            None,
            note,
            baseline_seconds=measured.seconds,
        )
    what = "did not finish" if measured.details.get("timeout") else "failed"
    return Row(case, figure, "—", baseline, "—", what, None, _join(note, measured.describe_error()))


def contended(*measured: Measured) -> str:
    """A note when other processes competed for the CPUs during these measurements, else ``""``."""
    most = max((x for m in measured for x in m.others), default=0.0)
    if most < CONTENDED:
        return ""
    return f"contended: other processes kept up to {most:.1f} CPUs busy during these runs"


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
