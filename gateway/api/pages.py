"""The one list shape every list endpoint answers with, and the query parameters that page and
filter it.

The domain checks these parameters (pagination.check and pagination.choice word the 400); the
parameters here only state the same rules in the OpenAPI document, from the same constants, so
that a client generated from it never sends a value the domain refuses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from gateway import pagination

ItemT = TypeVar("ItemT", bound=BaseModel)

Limit = Annotated[int, Query(json_schema_extra={"minimum": 1, "maximum": pagination.MAX_LIMIT})]
Offset = Annotated[int, Query(json_schema_extra={"minimum": 0, "maximum": pagination.MAX_OFFSET})]


def one_of(values: Iterable[str]) -> Any:
    """A filter that pagination.choice() limits to `values`."""
    return Query(json_schema_extra={"enum": list(values)})


class PageOut(BaseModel, Generic[ItemT]):
    data: list[ItemT]
    total: int
    limit: int
    offset: int
