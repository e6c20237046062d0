"""Bundles: hand a finished flow to someone else, outputs, records and all.

:func:`export` writes the outputs and records of complete tasks (and everything upstream) with a
``manifest.json`` (task ids, parameters, code fingerprints, every file's size and content
fingerprint, the flowlib version) to a folder, a ``.zip`` / ``.tar`` / ``.tar.gz`` file or an
fsspec URL. :func:`import_bundle` verifies every file against the manifest before copying
anything, then copies outputs first and records last into a root, so a colleague's
``flowlib.run`` finds the flow complete and runs nothing (and reruns, as "code changed",
exactly the tasks whose code differs from the exporter's). :func:`read_manifest` reads what a
bundle holds without importing it.

Modules: :mod:`~flowlib.bundle.manifest` (the manifest), :mod:`~flowlib.bundle.files` (folders,
URLs and archives), :mod:`~flowlib.bundle.transfer` (export and import).

Example:
    >>> manifest = flowlib.export(Evaluate(), "results.zip")  # doctest: +SKIP
    >>> flowlib.import_bundle("results.zip", root="data")  # doctest: +SKIP
"""

from __future__ import annotations

from flowlib.bundle.manifest import FORMAT, MANIFEST, BundleError, BundleFile, BundleManifest, BundleTask
from flowlib.bundle.transfer import export, import_bundle, read_manifest

__all__ = [
    "export",
    "import_bundle",
    "read_manifest",
    "BundleManifest",
    "BundleTask",
    "BundleFile",
    "BundleError",
    "FORMAT",
    "MANIFEST",
]
