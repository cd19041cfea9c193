"""The one list shape every list endpoint answers with, and the query parameters that page and
filter it.

The domain checks these parameters (pagination.check and pagination.choice word the 400); the
parameters here only state the same rules in the OpenAPI document, from the same constants, so
that a client generated from it never sends a value the domain refuses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from gateway import pagination

ItemT = TypeVar("ItemT", bound=BaseModel)

Limit = Annotated[int, Query(json_schema_extra={"minimum": 1, "maximum": pagination.MAX_LIMIT})]
Offset = Annotated[int, Query(json_schema_extra={"minimum": 0, "maximum": pagination.MAX_OFFSET})]


Cursor = Annotated[
    str | None,
    Query(
        max_length=64,
        description="The id of an item of this list: the page just after (starting_after) or"
        " just before (ending_before) it, newest first. Cannot be combined with offset.",
    ),
]


async def window(
    limit: Limit = 10,
    offset: Offset = 0,
    starting_after: Cursor = None,
    ending_before: Cursor = None,
) -> pagination.Window:
    return pagination.Window(limit, offset, starting_after, ending_before)


Window = Annotated[pagination.Window, Depends(window)]


def one_of(values: Iterable[str]) -> Any:
    """A filter that pagination.choice() limits to `values`."""
    return Query(json_schema_extra={"enum": list(values)})


class PageOut(BaseModel, Generic[ItemT]):
    data: list[ItemT]
    total: int
    limit: int
    offset: int
    has_more: bool
