"""A registry of trained models: projects, PEP 440 releases, and numbered generations.

``Registry(root)`` keeps, under a local folder or an fsspec URL,
``<project>/<release>/<generation>/`` with the pickled model state (``state.pkl``, cloudpickle)
and a small ``tag.json``: metrics, task family and significant parameters, code fingerprint, the
fingerprints of the training data the task consumed (from its record), flowlib and library
versions, the created time and the user's tags. Each push to a release gets the next generation
(1, 2, ...), atomically, also when several processes push at once. Loading unpickles: use
registries you trust.

Example:
    >>> registry = Registry(getfixture("tmp_path"))  # doctest: +SKIP
    >>> ref = registry.push(Train(), "iris", "1.0")  # doctest: +SKIP
    >>> registry.load("iris").predict(frame)  # doctest: +SKIP
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cloudpickle
import pandas as pd

import flowlib
from flowlib.errors import FlowlibError
from flowlib.hashing import hash_bytes
from flowlib.models.stores import TAG_FILE, RegistryStore, open_store
from flowlib.models.task import ModelTask, as_predictions, check_features, default_apply, model_features
from flowlib.task import Task

__all__ = ["Registry", "ModelRef", "Model", "Provenance", "provenance", "RegistryError", "UnknownModelError"]

logger = logging.getLogger(__name__)

STATE_FILE = "state.pkl"
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class RegistryError(FlowlibError, ValueError):
    """A registry call got a bad value (e.g. a release that is not a PEP 440 version)."""


class UnknownModelError(FlowlibError, LookupError):
    """No such project, release or generation in the registry; the message lists what exists."""


@dataclass(frozen=True, order=True)
class ModelRef:
    """One generation of a release of a project: ``iris/1.0/2``.

    Example:
        >>> str(ModelRef("iris", "1.0", 2)), ModelRef.parse("iris/1.0/2") == ModelRef("iris", "1.0", 2)
        ('iris/1.0/2', True)
    """

    project: str
    release: str
    generation: int

    def __str__(self) -> str:
        return f"{self.project}/{self.release}/{self.generation}"

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """``"project/release/generation"`` -> a ModelRef."""
        parts = text.split("/")
        if len(parts) != 3 or not parts[2].isdigit():
            raise RegistryError(f"a model reference is project/release/generation, e.g. iris/1.0/2; got {text!r}")
        return cls(parts[0], parts[1], int(parts[2]))


@dataclass(frozen=True)
class Provenance:
    """What produced a model, as its task's record says."""

    family: str
    task_id: str
    params: dict[str, Any]
    code: str | None
    inputs: dict[str, dict[str, str]]
    metrics: dict[str, Any]
    versions: dict[str, str]
    trained: str | None
    #: A fingerprint of external data the task read (source tasks), when the record has one.
    data: str | None = None


def provenance(task: Task) -> Provenance:
    """The provenance of a completed task, read from its record (the only place the record is read).

    Example:
        >>> provenance(Train()).code  # doctest: +SKIP
        '3f2a...'
    """
    found = task.metadata()
    if found is None:
        raise RegistryError(f"{task} has not been run, so it has no model to push; run it first: flowlib.run({task!r})")
    return Provenance(
        family=found.family or task.get_task_family(),
        task_id=found.task_id or task.task_id,
        params=dict(found.params),
        code=found.code or None,
        inputs={key: dict(value) for key, value in found.inputs.items()},
        metrics=dict(found.metadata),
        versions=dict(found.versions),
        trained=found.started or None,
        data=found.data,
    )


@dataclass
class Model:
    """A loaded generation: the model state, the task that trained it (if any), its tag; ``predict`` applies it.

    Example:
        >>> Registry(root).load("iris").predict(frame)  # doctest: +SKIP
    """

    ref: ModelRef
    model: Any
    task: ModelTask | None
    tag: dict[str, Any] = field(default_factory=dict)

    @property
    def features(self) -> list[str] | None:
        """The feature columns the model needs, when known."""
        if self.task is not None:
            return self.task.model_features(self.model)
        return model_features(self.model)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predictions for ``frame``: the task's ``apply`` (or ``model.predict``), as a DataFrame."""
        if self.task is not None:
            return self.task.predict(frame, model=self.model)
        check_features(frame, self.features)
        if len(frame) == 0:
            return pd.DataFrame({"prediction": []}, index=frame.index)
        return as_predictions(default_apply(self.model, frame, self.features), frame.index)


def _check_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or not value or value.startswith(".") or not set(value) <= _NAME_CHARS:
        raise RegistryError(f"{kind} name {value!r} must be letters, digits, '_', '.' or '-' (not starting with '.')")
    return value


def _version(release: str) -> Any:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(str(release))
    except InvalidVersion:
        raise RegistryError(
            f"release {release!r} is not a PEP 440 version; use e.g. 1.0, 2.1.3, 1.0rc1 or 2024.5"
        ) from None


def _user_modules(*objects: Any) -> list[str]:
    """Modules of the user's own code among ``objects``' classes (not installed packages, not flowlib)."""
    names = []
    for obj in objects:
        for cls in type(obj).__mro__:
            module = sys.modules.get(cls.__module__)
            path = str(getattr(module, "__file__", "") or "")
            installed = "site-packages" in path or "dist-packages" in path or not path
            if module is not None and not installed and not cls.__module__.startswith(("flowlib.", "luigi.")):
                names.append(cls.__module__)
    return list(dict.fromkeys(names))


def _dump_state(model: Any, task: ModelTask | None) -> bytes:
    """Pickle the model and its task; the user's own modules by value, so a server needs only the libraries.

    A task class defined in a script or a file the server cannot import (``flowlib serve`` runs elsewhere)
    travels with the model; installed packages (scikit-learn, ...) are pickled by reference as usual.
    """
    registered = set(cloudpickle.list_registry_pickle_by_value())
    added = [name for name in _user_modules(model, task) if name not in registered and name != "__main__"]
    for name in added:
        cloudpickle.register_pickle_by_value(sys.modules[name])
    try:
        return cloudpickle.dumps({"model": model, "task": task})
    finally:
        for name in added:
            cloudpickle.unregister_pickle_by_value(sys.modules[name])


def _library_versions(model: Any) -> dict[str, str]:
    top = type(model).__module__.split(".")[0]
    module = sys.modules.get(top)
    version = getattr(module, "__version__", None)
    return {top: str(version)} if version and top not in ("builtins", "__main__") else {}


def _plain_tags(tags: Mapping[str, Any] | Iterable[str] | None) -> dict[str, Any]:
    if tags is None:
        return {}
    if isinstance(tags, Mapping):
        return {str(key): value for key, value in tags.items()}
    if isinstance(tags, str):
        return {tags: True}
    return {str(name): True for name in tags}


class Registry:
    """Model generations under ``root`` (a folder or an fsspec URL such as ``s3://bucket/models``).

    Example:
        >>> registry = Registry("/tmp/flowlib-registry-doc")
        >>> registry.push({"w": 1}, "demo", "not a version")
        Traceback (most recent call last):
        ...
        flowlib.models.registry.RegistryError: release 'not a version' is not a PEP 440 version; ...
    """

    def __init__(self, root: str | os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None) -> None:
        self.store: RegistryStore = open_store(root, storage_options)
        self.root = self.store.url

    def __repr__(self) -> str:
        return f"Registry({self.root!r})"

    # -- writing -------------------------------------------------------------------------------
    def push(
        self,
        task_or_model: Any,
        project: str,
        release: str,
        tags: Mapping[str, Any] | Iterable[str] | None = None,
    ) -> ModelRef:
        """Store a trained task's model (or a bare model) as the next generation of ``project`` ``release``.

        A flowlib task must have run (its record gives the provenance); its model is its output.
        """
        _check_name("project", project)
        version = _version(release)
        task: Task | None = task_or_model if isinstance(task_or_model, Task) else None
        origin = provenance(task) if task is not None else None
        model = task.output_load() if task is not None else task_or_model
        state = _dump_state(model, task if isinstance(task, ModelTask) else None)
        folder = self._release_folder(project, version) or f"{project}/{version}"
        created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        library = {**(origin.versions if origin else {}), **_library_versions(model)}
        library.setdefault("flowlib", flowlib.__version__)
        tag: dict[str, Any] = {
            "project": project,
            "release": folder.split("/")[1],
            "created": created,
            "tags": _plain_tags(tags),
            "metrics": origin.metrics if origin else {},
            "task": None
            if origin is None
            else {
                "family": origin.family,
                "task_id": origin.task_id,
                "params": origin.params,
                "code": origin.code,
                "inputs": origin.inputs,
                "trained": origin.trained,
                "data": origin.data,
            },
            "model": {"class": f"{type(model).__module__}.{type(model).__qualname__}"},
            "versions": library,
            "state": {"file": STATE_FILE, "bytes": len(state), "fingerprint": hash_bytes(state)},
        }
        try:
            tag_bytes = json.dumps(tag, indent=1, default=str).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise RegistryError(f"tags must be plain JSON values: {exc}") from exc
        generation = self.store.publish(folder, {STATE_FILE: state, TAG_FILE: tag_bytes})
        ref = ModelRef(project, folder.split("/")[1], generation)
        logger.info("pushed %s to %s", ref, self.root)
        return ref

    def remove(self, ref: ModelRef) -> None:
        """Remove one generation (its number is not reused)."""
        resolved = self.ref(ref.project, ref.release, ref.generation)
        self.store.retire(f"{resolved.project}/{resolved.release}", resolved.generation)

    # -- reading -------------------------------------------------------------------------------
    def projects(self) -> list[str]:
        """Project names, sorted."""
        return [name for name in self.store.children("") if not name.startswith(".") and self.releases(name)]

    def releases(self, project: str) -> list[str]:
        """Releases of ``project`` with at least one generation, in PEP 440 order."""
        found = []
        for name in self.store.children(project):
            try:
                version = _version(name)
            except RegistryError:
                continue
            if self.store.generations(f"{project}/{name}"):
                found.append((version, name))
        return [name for _, name in sorted(found)]

    def generations(self, project: str, release: str) -> list[int]:
        """Generations of a release, ascending."""
        return self.store.generations(f"{project}/{release}")

    def _release_folder(self, project: str, version: Any) -> str | None:
        """The folder of an existing release equal to ``version`` (``1.0`` and ``1.0.0`` are one release)."""
        for name in self.store.children(project):
            try:
                if _version(name) == version:
                    return f"{project}/{name}"
            except RegistryError:
                continue
        return None

    def ref(self, project: str, release: str | None = None, generation: int | None = None) -> ModelRef:
        """Resolve without loading: the latest release (PEP 440 order) and latest generation by default."""
        releases = self.releases(project)
        if not releases:
            known = ", ".join(self.projects()) or "none"
            raise UnknownModelError(f"no project {project!r} in the registry {self.root}; its projects: {known}")
        if release is None:
            chosen = releases[-1]
        else:
            try:
                version = _version(release)
            except RegistryError as exc:
                raise RegistryError(f"{exc}; project {project!r} has releases {', '.join(releases)}") from None
            matches = [name for name in releases if _version(name) == version]
            if not matches:
                raise UnknownModelError(
                    f"project {project!r} has no release {release}; its releases: {', '.join(releases)}"
                )
            chosen = matches[0]
        generations = self.generations(project, chosen)
        if generation is None:
            return ModelRef(project, chosen, generations[-1])
        if not isinstance(generation, int) or isinstance(generation, bool) or generation not in generations:
            listed = ", ".join(map(str, generations))
            raise UnknownModelError(f"{project} {chosen} has no generation {generation}; its generations: {listed}")
        return ModelRef(project, chosen, generation)

    def tag(self, ref: ModelRef) -> dict[str, Any]:
        """The tag file of a generation (metrics, provenance, versions...)."""
        data = self._read(ref, TAG_FILE)
        tag: dict[str, Any] = json.loads(data)
        tag["generation"] = ref.generation
        return tag

    def load(self, project: str, release: str | None = None, generation: int | None = None) -> Model:
        """Load a generation (latest release and generation by default) as a :class:`Model`."""
        ref = self.ref(project, release, generation)
        return self.load_ref(ref)

    def load_ref(self, ref: ModelRef) -> Model:
        """Load exactly ``ref`` (resolved already)."""
        tag = self.tag(ref)
        state = self._read(ref, STATE_FILE)
        expected = (tag.get("state") or {}).get("fingerprint")
        if expected and hash_bytes(state) != expected:
            raise RegistryError(f"the state of {ref} in {self.root} is damaged (its hash differs from its tag)")
        content = cloudpickle.loads(state)
        return Model(ref=ref, model=content["model"], task=content.get("task"), tag=tag)

    def _read(self, ref: ModelRef, name: str) -> bytes:
        try:
            return self.store.read(f"{ref.project}/{ref.release}/{ref.generation}/{name}")
        except FileNotFoundError:
            raise UnknownModelError(f"{ref} is not in the registry {self.root} (removed?)") from None

    def list(self, project: str | None = None) -> pd.DataFrame:
        """One row per generation: project, release, generation, created, tags, metrics (and ``metrics.<name>``)."""
        if project is not None and not self.releases(project):
            self.ref(project)  # raises, naming the projects
        rows = []
        for name in [project] if project is not None else self.projects():
            for release in self.releases(name):
                for generation in self.generations(name, release):
                    try:
                        tag = self.tag(ModelRef(name, release, generation))
                    except UnknownModelError:
                        continue  # removed while we listed
                    task = tag.get("task") or {}
                    row = {
                        "project": name,
                        "release": release,
                        "generation": generation,
                        "created": tag.get("created"),
                        "tags": tag.get("tags") or {},
                        "metrics": tag.get("metrics") or {},
                        "family": task.get("family"),
                        "code": task.get("code"),
                    }
                    row.update({f"metrics.{key}": value for key, value in (tag.get("metrics") or {}).items()})
                    rows.append(row)
        columns = ["project", "release", "generation", "created", "tags", "metrics", "family", "code"]
        extra = list(dict.fromkeys(key for row in rows for key in row if key not in columns))
        table = pd.DataFrame(rows, columns=[*columns, *extra])
        table["generation"] = table["generation"].astype("int64")
        table["created"] = pd.to_datetime(table["created"], utc=True, errors="coerce")
        return table
