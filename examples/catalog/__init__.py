"""An example schema catalog: a plain package of schemas that a project and a deployment both import.

Example:
    >>> from examples.catalog import Student
    >>> [f.attr for f in Student.fields()]
    ['id', 'name', 'score', 'school', 'enrolled']
"""

from __future__ import annotations

from examples.catalog.school import Prediction, School, Student

__all__ = ["Student", "School", "Prediction"]
