"""Schemas shared by the tests of flowlib.sources (a small catalog, importable by name)."""

from __future__ import annotations

import datetime

from flowlib.sources import Field, Schema

__all__ = ["Student", "School", "Prediction", "Event"]


class Student(Schema):
    id = Field(int, nullable=False)
    name = Field(str)
    score = Field(float, name="avg_score")
    school = Field(int)
    born = Field(datetime.date)
    active = Field(bool)


class School(Schema):
    id = Field(int, nullable=False)
    city = Field(str)


class Prediction(Schema):
    id = Field(int, nullable=False)
    label = Field(str)
    probability = Field(float)


class Event(Schema):
    seq = Field(int, nullable=False)
    value = Field(float)
