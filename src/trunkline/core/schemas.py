"""Base schemas: inputs refuse unknown fields; list responses share one shape."""

from __future__ import annotations

from typing import Generic, TypeVar

from ninja import Schema
from pydantic import ConfigDict

T = TypeVar("T")


class InSchema(Schema):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ListOut(Schema, Generic[T]):
    data: list[T]
    next_cursor: str | None


class ErrorBody(Schema):
    type: str
    message: str
    field: str | None


class ErrorOut(Schema):
    error: ErrorBody
