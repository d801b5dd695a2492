"""Every list the API answers, a page at a time: the `page` and `per_page` query, and the page's shape.

Built on agents/paging.py, as the pages' lists are: a page past the end answers the last one.
"""

from __future__ import annotations

from collections.abc import Callable

from agents.api_base import INTEGER, FieldError, int_query, obj
from agents.paging import page_of

PER_PAGE, MAX_PER_PAGE = 50, 200

PAGE_QUERY = {
    "page": {"type": "integer", "minimum": 1, "default": 1, "description": "a page past the end answers the last"},
    "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": PER_PAGE},
}


def page_schema(key: str, item: dict, **more) -> dict:
    return obj(
        **{key: {"type": "array", "items": item}},
        page=INTEGER,
        pages=INTEGER,
        total={"type": "integer", "description": "items over all pages"},
        per_page=INTEGER,
        **more,
    )


def paged(request, rows, key: str, to_json: Callable) -> dict:
    """One page of the queryset `rows` (ordered) as `{key: [...], page, pages, total, per_page}`."""
    number = int_query(request, "page", 1)
    per_page = int_query(request, "per_page", PER_PAGE)
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise FieldError("per_page", f"must be between 1 and {MAX_PER_PAGE}.")
    page = page_of(rows, number, per_page)
    return {
        key: [to_json(item) for item in page.items],
        "page": page.number,
        "pages": page.pages,
        "total": page.total,
        "per_page": page.per_page,
    }
