"""Lists at fleet size, the same way on every page: one page of a queryset.

The task page's table (agents/fleet.py) and the review queue and history (judges/queries.py) use it, so a page
past the end behaves the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def page_of(rows: QuerySet, number: int, per_page: int) -> Page:
    """One page (two queries: the count, the rows); a page past the end shows the last one (a row that left the
    list meanwhile may have shortened it)."""
    total = rows.count()
    pages = max(1, -(-total // per_page))
    number = min(max(1, number), pages)
    start = (number - 1) * per_page
    return Page(list(rows[start : start + per_page]), number, pages, total, per_page)
