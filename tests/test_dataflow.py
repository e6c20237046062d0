"""Operation dataflows (issue 13): definitions, operations, the orchestrator, locks, stages, pictures."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flowlib
from flowlib.dataflow import (
    DataFlow,
    DataFlowError,
    Definition,
    DefinitionError,
    Input,
    OperationError,
    Stage,
    WiringError,
    arun,
    get_multi,
    get_single,
    http_op,
    op,
    run,
    subprocess_op,
)

A, B, C, D = Definition("a", int), Definition("b", int), Definition("c", int), Definition("d", int)

# -- 1. definitions and inputs ------------------------------------------------------------------------


def test_a_value_that_does_not_fit_names_the_value_and_the_definition():
    url = Definition("url", str)
    assert Input("https://example.com", url).value == "https://example.com"
    with pytest.raises(DefinitionError, match=r"value 3 \(int\) does not fit definition 'url' \(primitive str\)"):
        Input(3, url)
    assert issubclass(DefinitionError, flowlib.FlowlibError) and issubclass(DefinitionError, TypeError)


def test_primitives_by_type_or_name():
    assert Input(2, Definition("n", "int")).value == 2
    assert Input(2, Definition("x", float)).value == 2  # an int is a number
    assert Input({"k": 1}, Definition("m", "map")).value == {"k": 1}
    assert Input(object, Definition("any", "any")).value is object
    with pytest.raises(DefinitionError, match="does not fit definition 'n'"):
        Input(True, Definition("n", int))  # a bool is not a count
    with pytest.raises(DefinitionError, match="unknown primitive 'integr'"):
        Definition("n", "integr")


# -- 2. operations --------------------------------------------------------------------------------------


def test_op_wraps_plain_and_async_functions_and_checks_its_parameters():
    @op(inputs={"a": A}, outputs={"c": C})
    async def double(a):
        return {"c": 2 * a}

    assert double.is_async and double.stage is Stage.PROCESSING and asyncio.run(double(a=2)) == {"c": 4}
    with pytest.raises(OperationError, match="takes no parameter 'b'"):

        @op(inputs={"a": A, "b": B}, outputs={"c": C})
        def wrong(a):
            return {}

    with pytest.raises(OperationError, match="async function"):

        @op(inputs={"a": A}, outputs={"c": C}, executor="process")
        async def no_pool(a):
            return {}


@op(inputs={"a": A}, outputs={"c": C, "d": D}, executor="process")
def square_in_a_process(a):
    import os

    return {"c": a * a, "d": os.getpid()}


def test_cpu_bound_operations_run_in_a_process_pool():
    import os

    results = run(DataFlow(square_in_a_process, get_multi(C, D)), [Input(v, A) for v in (2, 3)])
    assert sorted(results["default"]["c"]) == [4, 9]
    assert os.getpid() not in results["default"]["d"]


SCRIPT = """
import json, sys
inputs = json.load(sys.stdin)
if inputs["a"] < 0:
    sys.exit("negative input " + str(inputs["a"]))
print(json.dumps({"c": inputs["a"] * 100 + inputs["b"]}))
"""


def test_subprocess_op_runs_a_real_child_process(tmp_path):
    script = tmp_path / "combine.py"
    script.write_text(SCRIPT)
    combine = subprocess_op([sys.executable, str(script)], inputs={"a": A, "b": B}, outputs={"c": C}, name="combine")
    results = run(DataFlow(combine, get_multi(C)), [Input(1, A), Input(2, A), Input(10, B)])
    assert sorted(results["default"]["c"]) == [110, 210]
    with pytest.raises(DataFlowError, match=r"operation 'combine' failed .* exited with status 1: negative input -1"):
        run(DataFlow(combine, get_multi(C)), [Input(-1, A), Input(10, B)])


class _Combine(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/combine":
            status, answer = 200, {"c": body["a"] * 100 + body["b"]}
        else:
            status, answer = 500, {"detail": "broken service"}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def service():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Combine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_http_op_posts_inputs_to_a_real_server(service):
    combine = http_op(f"{service}/combine", inputs={"a": A, "b": B}, outputs={"c": C}, name="combine")
    results = run(DataFlow(combine, get_multi(C)), [Input(1, A), Input(2, A), Input(10, B), Input(20, B)])
    assert sorted(results["default"]["c"]) == [110, 120, 210, 220]
    broken = http_op(f"{service}/broken", inputs={"a": A, "b": B}, outputs={"c": C}, name="broken")
    with pytest.raises(DataFlowError, match=r"operation 'broken' failed .*HTTP 500.*broken service"):
        run(DataFlow(broken, get_multi(C)), [Input(1, A), Input(10, B)])


# -- 3. the orchestrator --------------------------------------------------------------------------------

TEXT, NUMBERS, RESULT = Definition("calc_string", str), Definition("numbers", list), Definition("result", int)
OPERATION = Definition("calc_op", str)


@op(inputs={"text": TEXT}, outputs={"operation": OPERATION, "numbers": NUMBERS})
def parse(text):
    words = text.split()
    return {"operation": words[0], "numbers": [int(w) for w in words if w.isdigit()]}


@op(inputs={"operation": OPERATION, "numbers": NUMBERS}, outputs={"result": RESULT})
def calculate(operation, numbers):
    if operation == "add":
        return {"result": sum(numbers)}
    if operation == "multiply":
        return {"result": numbers[0] * numbers[1]}
    raise ValueError(f"unknown operation {operation!r}")


CALCULATOR = DataFlow(parse, calculate, get_single(RESULT))


def test_calculator_one_context_each_run_together():
    results = run(CALCULATOR, {"add": [Input("add 40 and 2", TEXT)], "mul": [Input("multiply 42 and 10", TEXT)]})
    assert results == {"add": {"result": 42}, "mul": {"result": 420}}


def test_combining_every_a_with_every_b_runs_each_permutation_once_and_feeds_downstream():
    calls: list[tuple[int, int]] = []
    seen_by_d: list[int] = []

    @op(inputs={"a": A, "b": B}, outputs={"c": C})
    def combine(a, b):
        calls.append((a, b))
        return {"c": a * 100 + b}

    @op(inputs={"c": C}, outputs={"d": D})
    def plus_one(c):
        seen_by_d.append(c)
        return {"d": c + 1}

    flow = DataFlow(combine, plus_one, get_multi(C, D))
    results = run(flow, [Input(1, A), Input(10, B), Input(2, A), Input(20, B)])["default"]
    assert sorted(calls) == [(1, 10), (1, 20), (2, 10), (2, 20)]
    assert sorted(results["c"]) == [110, 120, 210, 220]
    assert sorted(seen_by_d) == [110, 120, 210, 220] and sorted(results["d"]) == [111, 121, 211, 221]


def test_a_permutation_is_which_value_fills_which_input_name():
    pairs: list[tuple[int, int]] = []

    @op(inputs={"x": A, "y": A}, outputs={})
    def pair(x, y):
        pairs.append((x, y))

    run(DataFlow(pair), [Input(1, A), Input(2, A)])
    assert sorted(pairs) == [(1, 1), (1, 2), (2, 1), (2, 2)]  # (1, 2) and (2, 1) are two


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=5),
    st.lists(st.integers(0, 5), min_size=1, max_size=5),
    st.randoms(use_true_random=False),
)
def test_redundancy_checker_runs_exactly_the_distinct_permutations_in_any_arrival_order(xs, ys, rnd):
    calls: list[tuple[int, int, int]] = []

    @op(inputs={"x": A, "y": B, "z": A}, outputs={})
    def three(x, y, z):
        calls.append((x, y, z))

    given_inputs = [Input(v, A) for v in xs] + [Input(v, B) for v in ys]
    rnd.shuffle(given_inputs)
    run(DataFlow(three), {"one": given_inputs})
    expected = sorted(itertools.product(set(xs), set(ys), set(xs)))
    assert sorted(calls) == expected


def test_self_feeding_decrement_stops_when_nothing_new_appears():
    calls: list[int] = []

    @op(inputs={"n": A}, outputs={"n": A})
    def decrement(n):
        calls.append(n)
        return {"n": n - 1} if n > 0 else None

    results = run(DataFlow(decrement, get_multi(A)), [Input(3, A)])
    assert results["default"]["a"] == [3, 2, 1, 0] and calls == [3, 2, 1, 0]


def test_a_cycle_of_repeating_values_stops():
    @op(inputs={"n": A}, outputs={"n": A})
    def next_mod_three(n):
        return {"n": (n + 1) % 3}

    assert run(DataFlow(next_mod_three, get_multi(A)), [Input(0, A)])["default"]["a"] == [0, 1, 2]


def test_equal_lists_are_one_value_other_unhashable_objects_count_by_identity():
    items = Definition("items", list)
    calls: list[list[int]] = []

    @op(inputs={"xs": items}, outputs={"xs": items})
    def drop_last(xs):
        calls.append(xs)
        return {"xs": xs[:-1] if xs else []}  # [] is produced twice: the second adds nothing

    assert run(DataFlow(drop_last, get_multi(items)), [Input([1, 2], items)])["default"]["items"] == [[1, 2], [1], []]
    assert calls == [[1, 2], [1], []]

    class Box:
        __hash__ = None  # unhashable, not a builtin container

    boxes = Definition("box", Box)
    one, other = Box(), Box()
    given = [Input(one, boxes), Input(other, boxes), Input(one, boxes)]
    assert run(DataFlow(get_multi(boxes)), given)["default"]["box"] == [one, other]


def test_an_input_nothing_can_supply_is_an_error_before_anything_runs():
    calls: list[int] = []

    @op(inputs={"a": A}, outputs={"c": C})
    def ran(a):
        calls.append(a)
        return {"c": a}

    @op(inputs={"c": C, "b": B}, outputs={"d": D})
    def needs_b(c, b):
        return {"d": c + b}

    with pytest.raises(WiringError, match=r"operation 'needs_b': input 'b' \(Definition\('b', int\)\) can never be"):
        run(DataFlow(ran, needs_b), [Input(1, A)])
    assert calls == []
    # A seed of the flow, or an input given to run, supplies it.
    assert run(DataFlow(ran, needs_b, get_single(D), seed=[Input(5, B)]), [Input(1, A)])["default"] == {"d": 6}
    assert run(DataFlow(ran, needs_b, get_single(D)), [Input(1, A), Input(7, B)])["default"] == {"d": 8}


def test_a_failing_operation_names_the_operation_the_context_and_the_inputs():
    contexts = {"ok": [Input("add 1 and 2", TEXT)], "bad": [Input("divide 4 and 2", TEXT)]}
    with pytest.raises(DataFlowError) as caught:
        run(CALCULATOR, contexts)
    error = caught.value
    assert "operation 'calculate' failed in context 'bad' with inputs operation='divide', numbers=[4, 2]" in str(error)
    assert error.operation == "calculate" and error.context == "bad"
    assert error.inputs == {"operation": "divide", "numbers": [4, 2]}
    assert isinstance(error.__cause__, ValueError)
    # Not strict: the other contexts finish, the failed one reports its error.
    results = run(CALCULATOR, contexts, strict=False)
    assert results["ok"] == {"result": 3}
    assert isinstance(results["bad"], DataFlowError) and "unknown operation 'divide'" in str(results["bad"])


def test_outputs_are_checked_against_declarations_and_definitions():
    @op(inputs={"a": A}, outputs={"c": C})
    def undeclared(a):
        return {"e": a}

    @op(inputs={"a": A}, outputs={"c": C})
    def wrong_type(a):
        return {"c": "text"}

    with pytest.raises(DataFlowError, match="returned output 'e', which it does not declare"):
        run(DataFlow(undeclared), [Input(1, A)])
    with pytest.raises(DataFlowError, match=r"operation 'wrong_type' failed .* does not fit definition 'c'"):
        run(DataFlow(wrong_type), [Input(1, A)])


def test_stages_processing_then_cleanup_then_output():
    order: list[str] = []

    @op(inputs={"n": A}, outputs={"n": A})
    async def count_down(n):
        await asyncio.sleep(0)
        order.append(f"processing {n}")
        return {"n": n - 1} if n > 0 else None

    @op(inputs={"n": A}, outputs={"c": C}, stage=Stage.CLEANUP)
    def close(n):
        order.append(f"cleanup {n}")
        return {"c": n} if n == 0 else None

    @op(inputs={"c": C}, outputs={"closed": C}, stage=Stage.OUTPUT)
    def report(c):
        order.append("output")
        return {"closed": c}

    results = run(DataFlow(count_down, close, report), [Input(2, A)])
    assert results == {"default": {"closed": 0}}
    assert order[:3] == ["processing 2", "processing 1", "processing 0"]
    assert sorted(order[3:6]) == ["cleanup 0", "cleanup 1", "cleanup 2"] and order[6:] == ["output"]


def test_async_operations_run_concurrently_up_to_max_concurrency():
    running = 0
    peak = 0

    @op(inputs={"a": A}, outputs={})
    async def hold(a):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    run(DataFlow(hold), [Input(v, A) for v in range(12)], max_concurrency=3)
    assert peak == 3
    peak = 0
    run(DataFlow(hold), {f"ctx{v}": [Input(v, A)] for v in range(12)}, max_concurrency=12)
    assert peak == 12  # across contexts too


def test_arun_yields_each_context_as_it_finishes():
    release = asyncio.Event()

    @op(inputs={"a": A}, outputs={"c": C})
    async def wait_for_zero(a):
        if a != 0:
            await release.wait()
        return {"c": a}

    async def main():
        order = []
        async for name, results in arun(
            DataFlow(wait_for_zero, get_single(C)), {"slow": [Input(1, A)], "fast": [Input(0, A)]}
        ):
            order.append((name, results))
            release.set()  # the slow context can only finish after the fast one was yielded
        return order

    assert asyncio.run(main()) == [("fast", {"c": 0}), ("slow", {"c": 1})]


def test_run_inside_a_running_loop_points_to_arun():
    async def main():
        run(CALCULATOR, [Input("add 1 and 2", TEXT)])

    with pytest.raises(DataFlowError, match="use `async for context, results in flowlib.dataflow.arun"):
        asyncio.run(main())


# -- 4. locks -----------------------------------------------------------------------------------------


def _resource_flow(lock: bool) -> DataFlow:
    resource = Definition("resource", str, lock=lock)

    @op(inputs={"r": resource}, outputs={})
    async def first(r):
        await asyncio.sleep(0.3)

    @op(inputs={"r": resource}, outputs={})
    async def second(r):
        await asyncio.sleep(0.3)

    return DataFlow(first, second, seed=[Input("db", resource)])


def test_a_locked_value_is_held_by_one_operation_at_a_time():
    started = time.perf_counter()
    run(_resource_flow(lock=True))
    locked = time.perf_counter() - started
    started = time.perf_counter()
    run(_resource_flow(lock=False))
    unlocked = time.perf_counter() - started
    assert locked >= 0.6
    assert unlocked < 0.55


def test_locks_are_per_value_other_values_run_in_parallel():
    resource = Definition("conn", int, lock=True)
    holding: dict[int, int] = {}
    overlap: list[int] = []

    @op(inputs={"r": resource, "a": A}, outputs={})
    async def use(r, a):
        holding[r] = holding.get(r, 0) + 1
        overlap.append(sum(1 for v in holding.values() if v))
        assert holding[r] == 1, "two operations hold the same locked value"
        await asyncio.sleep(0.01)
        holding[r] -= 1

    run(DataFlow(use), [Input(1, resource), Input(2, resource)] + [Input(v, A) for v in range(4)])
    assert len(overlap) == 8 and max(overlap) == 2  # the two connections were used at once


# -- 7. pictures --------------------------------------------------------------------------------------


def test_pictures_show_definitions_operations_stages_and_feeds():
    mermaid = CALCULATOR.to_mermaid()
    assert mermaid.startswith("flowchart LR")
    assert "subgraph processing" in mermaid and "subgraph output" in mermaid
    assert "def_calc_string -->|text| op_parse" in mermaid and "op_parse -->|numbers| def_numbers" in mermaid
    assert "op_calculate -->|result| def_result" in mermaid and "def_result -->|result| op_get_single" in mermaid
    dot = CALCULATOR.to_dot()
    assert dot.startswith("digraph dataflow {") and dot.rstrip().endswith("}")
    assert "subgraph cluster_processing {" in dot and 'def_numbers -> op_calculate [label="numbers"];' in dot
    graphviz = pytest.importorskip("graphviz")
    try:
        svg = graphviz.Source(dot).pipe(format="svg").decode()
    except graphviz.ExecutableNotFound:
        return  # the dot program is not installed; the text was checked above
    assert "<svg" in svg and "calculate" in svg


def test_a_strict_failure_cancels_what_still_runs_and_an_early_exit_closes_the_run():
    cancelled: list[int] = []

    @op(inputs={"a": A}, outputs={"c": C})
    async def wait_or_fail(a):
        if a == 0:
            raise RuntimeError("boom")
        try:
            await asyncio.Event().wait()  # never set
        except asyncio.CancelledError:
            cancelled.append(a)
            raise
        return {"c": a}

    flow = DataFlow(wait_or_fail, get_single(C))
    with pytest.raises(DataFlowError, match="operation 'wait_or_fail' failed in context 'fails'.*boom"):
        run(flow, {"waits": [Input(1, A)], "fails": [Input(0, A)]})
    assert cancelled == [1]

    async def first_only():
        async for name, results in arun(flow, {"w": [Input(2, A)], "f": [Input(0, A)]}, strict=False):
            return name, results

    name, error = asyncio.run(first_only())
    assert name == "f" and isinstance(error, DataFlowError) and cancelled == [1, 2]


def test_declarations_are_checked_when_written():
    with pytest.raises(OperationError, match="has no inputs"):
        op(lambda: {}, inputs={}, outputs={"c": C}, name="nothing")
    with pytest.raises(OperationError, match="executor must be one of"):
        op(lambda a: {}, inputs={"a": A}, executor="gpu", name="where")
    with pytest.raises(WiringError, match="two operations are named 'get_single'"):
        DataFlow(get_single(A), get_single(B))
    with pytest.raises(
        WiringError, match=r"uses Definition\('a', str\), but the flow already has Definition\('a', int\)"
    ):
        DataFlow(get_single(A), get_multi(Definition("a", str)))
    with pytest.raises(WiringError, match="max_concurrency is a positive int"):
        run(DataFlow(get_single(A)), [Input(1, A)], max_concurrency=0)
