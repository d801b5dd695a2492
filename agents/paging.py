"""Lists at fleet size, the same way on every page: one page of a queryset (or a list), and a view's query string.

The task page's table (agents/fleet.py) and the review queue and history (judges/queries.py) use both, so a page
past the end and a link to another page or sort behave the same everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import date
from urllib.parse import urlencode

from django.db.models import QuerySet


@dataclass(frozen=True)
class Page:
    items: list
    number: int
    pages: int
    total: int
    per_page: int

    @property
    def first_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.total else 0

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.items) - 1 if self.total else 0


def page_of(rows: QuerySet | Sequence, number: int, per_page: int) -> Page:
    """One page of a queryset (two queries: the count, the rows) or of a sequence (a list made in Python); a page
    past the end shows the last one (a row that left the list meanwhile may have shortened it)."""
    total = rows.count() if isinstance(rows, QuerySet) else len(rows)
    pages = max(1, -(-total // per_page))
    number = min(max(1, number), pages)
    start = (number - 1) * per_page
    return Page(list(rows[start : start + per_page]), number, pages, total, per_page)


def query_params(view, **changes) -> dict[str, str]:
    """A dataclass of query-string values as that query string's values, with some changed: a value left at its
    field's default (or empty) is left out, True is "1" and a date is written as ISO."""
    current = replace(view, **changes)
    values = {}
    for f in fields(current):
        value = getattr(current, f.name)
        if value in (None, "") or value == f.default:
            continue
        values[f.name] = "1" if value is True else value.isoformat() if isinstance(value, date) else str(value)
    return values


def query_string(view, **changes) -> str:
    """`query_params` as a query string: links to another page, sort or filter of the same list."""
    return urlencode(query_params(view, **changes))
