"""The route table of the review pages' other reads and the patch export (judges/api_review.py): URLs under
/api/ with their shapes; swarm_web/urls.py includes it beside judges/api_urls.py."""

from __future__ import annotations

from agents.api_base import INTEGER, STRING, Operation, Route
from agents.api_lists import PAGE_QUERY, page_schema
from judges import api_review as review
from judges import api_review_schemas as shapes

ROUTES = [
    Route(
        "search",
        "api_search",
        get=Operation(
            review.search_runs,
            "Search past runs: the transcripts, messages and verdicts of your teams' agents, best match first",
            page_schema("hits", shapes.HIT),
            query=shapes.SEARCH_QUERY,
        ),
    ),
    Route(
        "verdicts/<int:pk>",
        "api_verdict",
        get=Operation(
            review.verdict_detail, "A verdict with its judges' opinions and its audit trail", shapes.VERDICT_DETAIL
        ),
    ),
    Route(
        "verdicts/<int:pk>/opinions",
        "api_verdict_opinions",
        get=Operation(
            review.verdict_opinions, "Each judge's opinion", page_schema("opinions", shapes.OPINION), query=PAGE_QUERY
        ),
    ),
    Route(
        "verdicts/<int:pk>/audit",
        "api_verdict_audit",
        get=Operation(
            review.verdict_audit,
            "The audit trail: every decision taken or attempted on the verdict, refusals included",
            page_schema("reviews", shapes.REVIEW),
            query=PAGE_QUERY,
        ),
    ),
    Route(
        "verdicts/<int:pk>/diff",
        "api_verdict_diff",
        get=Operation(
            review.verdict_diff,
            "The submitted diff, a page of files at a time",
            page_schema("files", shapes.DIFF_FILE, verdict=INTEGER, commit_sha=STRING),
            query=PAGE_QUERY,
        ),
    ),
    Route(
        "verdicts/<int:pk>/patch",
        "api_verdict_patch",
        post=Operation(
            review.verdict_patch,
            "Export the submitted work as a patch (recorded: a branch is deleted at clean-up only once exported)",
            shapes.PATCH,
            errors=(409,),
            action="export",
        ),
    ),
]

urlpatterns = [route.urlpattern() for route in ROUTES]
