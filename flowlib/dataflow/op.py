"""Operations: what a dataflow runs. :func:`op` over a Python function, :func:`subprocess_op` over a command,
:func:`http_op` over a URL; all three are :class:`Operation` objects the orchestrator treats alike.

An operation's *definition* (name, inputs, outputs, stage) is separate from its *implementation*
(``func``: an async or plain callable taking the inputs as keyword arguments and returning a dict of
outputs), so an operation written in another language or deployed as a service takes part unchanged.

Example:
    >>> A, B, C = Definition("a", int), Definition("b", int), Definition("c", int)
    >>> @op(inputs={"a": A, "b": B}, outputs={"c": C})
    ... def combine(a, b):
    ...     return {"c": a * 100 + b}
    >>> combine(a=1, b=10)
    {'c': 110}
"""

from __future__ import annotations

import asyncio
import inspect
import json
import marshal
import os
import shlex
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flowlib.dataflow.errors import OperationError
from flowlib.dataflow.types import Definition, Stage
from flowlib.fingerprint import source_fingerprint
from flowlib.hashing import hash_bytes

__all__ = ["Operation", "op", "subprocess_op", "http_op", "EXECUTORS"]

#: Where a plain function may run: ``None`` inline on the event loop (quick functions), ``"thread"``
#: in a thread pool (blocking I/O), ``"process"`` in a process pool (CPU-bound work).
EXECUTORS = (None, "thread", "process")


def _definitions(owner: str, kind: str, given: Mapping[str, Definition] | None) -> dict[str, Definition]:
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise OperationError(f"operation {owner!r}: {kind} is a dict of name -> Definition, got {given!r}")
    for key, definition in given.items():
        if not isinstance(key, str) or not key:
            raise OperationError(f"operation {owner!r}: {kind} name {key!r} is not a non-empty string")
        if not isinstance(definition, Definition):
            raise OperationError(f"operation {owner!r}: {kind} {key!r} needs a Definition, got {definition!r}")
    return dict(given)


class Operation:
    """One operation of a dataflow: its definition (name, inputs, outputs, stage) and its implementation ``func``.

    ``gather=True`` (the built-in output operations): ``func`` is called once per context, after
    processing and cleanup, with ``{input name: [every value of its definition, in order produced]}``.
    ``code`` is what the code fingerprint covers (a function's source, a command and its script, a URL).

    Example:
        >>> n = Definition("n", int)
        >>> double = Operation("double", lambda n: {"n2": 2 * n}, inputs={"n": n}, outputs={"n2": n})
        >>> double.stage, double.is_async
        (<Stage.PROCESSING: 'processing'>, False)
    """

    def __init__(
        self,
        name: str,
        func: Callable[..., Any],
        *,
        inputs: Mapping[str, Definition] | None = None,
        outputs: Mapping[str, Definition] | None = None,
        stage: Stage = Stage.PROCESSING,
        executor: str | None = None,
        gather: bool = False,
        code: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise OperationError(f"an operation's name is a non-empty string, got {name!r}")
        if not callable(func):
            raise OperationError(f"operation {name!r}: its implementation must be callable, got {func!r}")
        if not isinstance(stage, Stage):
            raise OperationError(f"operation {name!r}: stage must be a flowlib.dataflow.Stage, got {stage!r}")
        if executor not in EXECUTORS:
            raise OperationError(f"operation {name!r}: executor must be one of {EXECUTORS}, got {executor!r}")
        self.name = name
        self.func = func
        self.inputs = _definitions(name, "inputs", inputs)
        self.outputs = _definitions(name, "outputs", outputs)
        self.stage = stage
        self.executor = executor
        self.gather = bool(gather)
        self.is_async = inspect.iscoroutinefunction(func)
        if self.is_async and executor is not None:
            raise OperationError(
                f"operation {name!r} is an async function: it runs on the event loop; drop executor={executor!r}"
            )
        if not self.inputs and not self.gather:
            raise OperationError(f"operation {name!r} has no inputs: it runs once per new permutation of them")
        self.locked = any(definition.lock for definition in self.inputs.values())
        self.code = code
        self._check_signature()

    def _check_signature(self) -> None:
        try:
            signature = inspect.signature(self.func)
        except (TypeError, ValueError):  # builtins without a signature: trust the declaration
            return
        params = signature.parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return
        if self.gather:
            return
        missing = [name for name in self.inputs if name not in params]
        if missing:
            raise OperationError(
                f"operation {self.name!r}: its function takes no parameter {missing[0]!r}, "
                f"but inputs name it; the parameters are {list(params)}"
            )

    def fingerprint(self) -> str:
        """A hash of this operation's definition and code: changes when either is edited.

        Example:
            >>> len(Operation("f", lambda x: {}, inputs={"x": Definition("x", int)}).fingerprint())
            16
        """
        wiring = [self.name, self.stage.value, str(self.executor), str(self.gather)]
        for kind, defs in (("in", self.inputs), ("out", self.outputs)):
            wiring += [f"{kind}:{key}={d.name}:{d.label}:{d.lock}" for key, d in defs.items()]
        return hash_bytes("\x00".join([*wiring, self._code_fingerprint()]).encode("utf-8"))[:16]

    def _code_fingerprint(self) -> str:
        if self.code is not None:
            return "code:" + hash_bytes(self.code.encode("utf-8"))
        func = inspect.unwrap(self.func)
        try:
            return "source:" + source_fingerprint(inspect.getsource(func))
        except (OSError, TypeError, SyntaxError, IndentationError):
            code = getattr(func, "__code__", None)
            if code is None:
                return "name:" + getattr(func, "__qualname__", repr(func))
            return "bytecode:" + hash_bytes(marshal.dumps(code.co_code) + repr(code.co_consts).encode())

    def __call__(self, **inputs: Any) -> Any:
        """Call the implementation directly (outside a dataflow), e.g. in a unit test of the operation."""
        return self.func(**inputs)

    def __repr__(self) -> str:
        return f"Operation({self.name!r}, inputs={list(self.inputs)}, outputs={list(self.outputs)}, {self.stage.name})"


def op(
    func: Callable[..., Any] | None = None,
    *,
    inputs: Mapping[str, Definition] | None = None,
    outputs: Mapping[str, Definition] | None = None,
    stage: Stage = Stage.PROCESSING,
    name: str | None = None,
    executor: str | None = None,
) -> Any:
    """Turn a function (plain or ``async``) returning a dict of outputs into an :class:`Operation`.

    The function is called with one keyword argument per input and returns ``{output name: value}``
    (a subset, an empty dict or ``None`` when it has nothing new). ``executor="process"`` runs a
    CPU-bound plain function in a process pool, ``"thread"`` a blocking one in a thread pool; by
    default a plain function runs inline on the event loop, so keep it quick.

    Example:
        >>> n = Definition("n", int)
        >>> @op(inputs={"n": n}, outputs={"n": n})
        ... def decrement(n):
        ...     return {"n": n - 1} if n > 0 else None
        >>> decrement.name
        'decrement'
    """

    def wrap(function: Callable[..., Any]) -> Operation:
        return Operation(
            name or str(getattr(function, "__name__", "operation")),
            function,
            inputs=inputs,
            outputs=outputs,
            stage=stage,
            executor=executor,
        )

    return wrap(func) if func is not None else wrap


def _decode_outputs(owner: str, text: str | bytes) -> dict[str, Any] | None:
    """The JSON object an external operation answered with (empty or ``null``: no outputs)."""
    if not text or not text.strip():
        return None
    try:
        decoded = json.loads(text)
    except ValueError as exc:
        shown = text[:200] if isinstance(text, str) else text[:200].decode("utf-8", "replace")
        raise OperationError(f"{owner} answered with invalid JSON ({exc}): {shown!r}") from exc
    if decoded is not None and not isinstance(decoded, dict):
        raise OperationError(f"{owner} answered with {type(decoded).__name__}; answer a JSON object of outputs")
    return decoded


def _script_contents(args: Sequence[str]) -> str:
    """The command, and the contents of every file it names: editing the script changes the fingerprint."""
    parts = ["command:" + json.dumps(list(args))]
    for arg in args:
        if os.path.isfile(arg):
            with open(arg, "rb") as handle:
                parts.append(f"file:{os.path.basename(arg)}:{hash_bytes(handle.read())}")
    return "\n".join(parts)


def subprocess_op(
    command: str | Sequence[str],
    *,
    inputs: Mapping[str, Definition],
    outputs: Mapping[str, Definition],
    name: str | None = None,
    stage: Stage = Stage.PROCESSING,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> Operation:
    """An operation that runs a command: inputs as a JSON object on stdin, outputs as a JSON object on stdout.

    A non-zero exit status fails the operation with the command's stderr. The code fingerprint covers
    the command and the contents of any file it names (the script).

    Example:
        >>> import sys
        >>> n = Definition("n", int)
        >>> script = "import json,sys; print(json.dumps({'m': json.load(sys.stdin)['n'] + 1}))"
        >>> inc = subprocess_op([sys.executable, "-c", script], inputs={"n": n}, outputs={"m": n})
        >>> inc.name
        'subprocess'
    """
    args = shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]
    if not args:
        raise OperationError("subprocess_op needs a command, e.g. ['python', 'script.py']")
    label = name or "subprocess"
    environment = None if env is None else {**os.environ, **env}

    async def run_command(**values: Any) -> dict[str, Any] | None:
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment,
            cwd=cwd,
        )
        payload = json.dumps(values).encode("utf-8")
        try:
            out, err = await asyncio.wait_for(process.communicate(payload), timeout)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
            raise OperationError(f"command {shlex.join(args)} ran longer than {timeout} s and was killed") from None
        if process.returncode != 0:
            message = err.decode("utf-8", "replace").strip()[-2000:]
            raise OperationError(f"command {shlex.join(args)} exited with status {process.returncode}: {message}")
        return _decode_outputs(f"command {shlex.join(args)}", out)

    return Operation(label, run_command, inputs=inputs, outputs=outputs, stage=stage, code=_script_contents(args))


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> bytes:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer: bytes = response.read()
            return answer
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode("utf-8", "replace")
        raise OperationError(f"POST {url} answered HTTP {exc.code} {exc.reason}: {detail}") from exc
    except urllib.error.URLError as exc:
        raise OperationError(f"POST {url} failed: {exc.reason}; is the service running?") from exc


def http_op(
    url: str,
    *,
    inputs: Mapping[str, Definition],
    outputs: Mapping[str, Definition],
    name: str | None = None,
    stage: Stage = Stage.PROCESSING,
    timeout: float = 30.0,
    headers: Mapping[str, str] | None = None,
) -> Operation:
    """An operation deployed as a service: POSTs the inputs as a JSON object to ``url``, reads the outputs back.

    The response body is a JSON object of outputs; an HTTP error status fails the operation. The code
    fingerprint covers the URL and the wiring (the service's code is not visible from here).

    Example:
        >>> n = Definition("n", int)
        >>> double = http_op("http://127.0.0.1:8000/double", inputs={"n": n}, outputs={"n": n})
        >>> double.name
        'http'
    """
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise OperationError(f"http_op needs an http:// or https:// URL, got {url!r}")
    sent = {"Content-Type": "application/json", "Accept": "application/json", **dict(headers or {})}

    async def post(**values: Any) -> dict[str, Any] | None:
        body = json.dumps(values).encode("utf-8")
        answer = await asyncio.get_running_loop().run_in_executor(None, _post, url, body, sent, timeout)
        return _decode_outputs(f"POST {url}", answer)

    return Operation(name or "http", post, inputs=inputs, outputs=outputs, stage=stage, code="url:" + url)
