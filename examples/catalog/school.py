"""The school data set: students, their schools, and the predictions a flow makes about them."""

from __future__ import annotations

import datetime

from flowlib.sources import Field, Schema

__all__ = ["Student", "School", "Prediction"]


class Student(Schema):
    """One student: ``score`` is stored in the column ``avg_score``; ``enrolled`` orders the records."""

    id = Field(int, nullable=False)
    name = Field(str)
    score = Field(float, name="avg_score")
    school = Field(int)
    enrolled = Field(datetime.date)


class School(Schema):
    """One school."""

    id = Field(int, nullable=False)
    city = Field(str)


class Prediction(Schema):
    """Whether a student is predicted to pass, with a probability."""

    id = Field(int, nullable=False)
    verdict = Field(str)
    probability = Field(float)
