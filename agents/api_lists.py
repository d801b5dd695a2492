"""Every list the API answers, a page at a time: the `page` and `per_page` query, and the page's shape.

Built on agents/paging.py, as the pages' lists are: a page past the end answers the last one.
"""

from __future__ import annotations

from collections.abc import Callable

from agents.api_base import INTEGER, FieldError, int_query, obj
from agents.paging import Page, page_of

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


def page_query(request, per_page: int = PER_PAGE) -> tuple[int, int]:
    """The page number and size the query asks for (`per_page` defaults to the list's own size)."""
    number = int_query(request, "page", 1)
    per_page = int_query(request, "per_page", per_page)
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise FieldError("per_page", f"must be between 1 and {MAX_PER_PAGE}.")
    return number, per_page


def page(request, rows) -> Page:
    """The page of `rows` (an ordered queryset, or a list) the query asks for."""
    return page_of(rows, *page_query(request))


def answer(key: str, page: Page, to_json: Callable) -> dict:
    """A page as `{key: [...], page, pages, total, per_page}`, each item through `to_json`."""
    return {
        key: [to_json(item) for item in page.items],
        "page": page.number,
        "pages": page.pages,
        "total": page.total,
        "per_page": page.per_page,
    }


def paged(request, rows, key: str, to_json: Callable) -> dict:
    """One page of `rows` (an ordered queryset, or a list) as `answer` shapes it."""
    return answer(key, page(request, rows), to_json)
