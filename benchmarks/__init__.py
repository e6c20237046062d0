"""flowlib's benchmark suite: every figure of issue 4, measured side by side against its baseline.

One command runs it and writes ``docs/benchmarks.md`` and ``docs/benchmark-scaling.png``::

    python -m benchmarks.run            # the full suite (several minutes on 2 cores)
    python -m benchmarks.run --smoke    # small sizes, under a minute (CI runs this)
    python -m benchmarks.run --only first_run rerun

Each measurement runs in a fresh subprocess (``benchmarks.child``), so imports, caches and
memory of one measurement never touch another. d6tflow columns need ``pip install -e .[bench]``;
without it they say why they are empty.
"""
