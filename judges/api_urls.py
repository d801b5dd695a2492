"""The judges app's route table: the verdicts' URLs under /api/, what their methods do, and their shapes.

Like agents/api_urls.py, it makes both the URL patterns and (through the URLconf) the OpenAPI document;
swarm_web/urls.py includes both tables. It lives in judges because judges may import agents, never the reverse.
"""

from agents.api_base import Operation, Route
from judges import api
from judges import api_schemas as schemas

ROUTES = [
    Route(
        "verdicts",
        "api_verdicts",
        get=Operation(
            api.verdicts_list,
            "Verdicts of your teams' agents, a page at a time: the pending queue by default",
            schemas.VERDICT_PAGE,
            query=schemas.LIST_QUERY,
        ),
    ),
    Route(
        "verdicts/decide",
        "api_verdicts_decide",
        post=Operation(
            api.verdicts_decide,
            "Approve or reject several verdicts of one team; each is decided and audited on its own, and each one "
            "the rule refuses (approval needs passed verification and no reject recommendation) is named with why",
            schemas.BULK_OUTCOME,
            body=schemas.BULK_DECISION,
            errors=(413,),
            action="review",
        ),
    ),
    Route(
        "verdicts/<int:pk>/approve",
        "api_verdict_approve",
        post=Operation(
            api.verdict_approve,
            "Approve the verdict's commit: the agent's work is accepted",
            schemas.VERDICT,
            body=schemas.DECISION,
            errors=(409,),
            action="review",
        ),
    ),
    Route(
        "verdicts/<int:pk>/reject",
        "api_verdict_reject",
        post=Operation(
            api.verdict_reject,
            "Reject it: the comment and the verification go back to the agent as a message",
            schemas.VERDICT,
            body=schemas.DECISION,
            errors=(409,),
            action="review",
        ),
    ),
]

urlpatterns = [route.urlpattern() for route in ROUTES]
