"""Schema fuzzing: schemathesis generates requests from /api/openapi.json, valid and invalid ones, for every
operation, and sends them to the app in this process (Django's WSGI handler, on the test database); no answer may be
a 500, a status the document does not list, or a body its schema does not describe.

Bounded: a few examples per operation and mode (SWARM_FUZZ_EXAMPLES, default 6), the whole run within
SWARM_FUZZ_SECONDS (default 240: it fails rather than run on); no deadline per example (a loaded machine may take
seconds over one request, and hypothesis fails an example over its deadline). Path ids are drawn at random and, in a
second pass, are the ids of real objects of the team, so the answers that succeed are checked too.
"""

from __future__ import annotations

import os
import time

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks
from schemathesis.generation import GenerationMode

from agents.api_base import build_openapi
from agents.models import ApiToken, Membership

EXAMPLES = int(os.environ.get("SWARM_FUZZ_EXAMPLES", "6"))
BUDGET = float(os.environ.get("SWARM_FUZZ_SECONDS", "240"))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
# which real object a path's {pk} names, by the path's start
REAL = {
    "/api/tasks/": "task",
    "/api/agents/": "agent",
    "/api/verdicts/": "verdict",
    "/api/repos/": "repo",
    "/api/models/": "profile",
    "/api/members/": "membership",
    "/api/invites/": "invite",
    "/api/webhooks/": "webhook",
    "/api/skills/": "skill",
}
# "Test connection" calls the provider a generated body names, over the network: tested with a local server instead
# (tests/test_api_setup.py)
NOT_FUZZED = {"/api/models/{pk}/test"}


@pytest.mark.timeout(600)
def test_the_api_answers_generated_requests_as_its_schema_says(alices_things):
    admin = Membership.objects.get(user__username="adele").user
    spare = ApiToken.create(admin, "spare", "read")[0]
    real = {**alices_things, "token": spare.pk}
    schema = schemathesis.openapi.from_dict(build_openapi())
    schema.app = get_wsgi_application()
    started, calls, statuses = time.monotonic(), 0, {}

    def fuzz(operation, mode: GenerationMode, pk: int | None) -> None:
        nonlocal calls
        strategy = operation.as_strategy(mode, path_parameters={"pk": pk} if pk else None)

        @settings(
            max_examples=EXAMPLES,
            deadline=None,  # the run's BUDGET bounds it, not each example's time
            database=None,  # nothing written to .hypothesis/
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case):
            nonlocal calls
            # a fresh token each time: a generated DELETE /api/tokens/{pk} may revoke the one before
            token = ApiToken.issue(admin)
            response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
            calls += 1
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        try:
            run()
        except Unsatisfiable:  # nothing of it can be made invalid (no parameters, no body)
            assert mode == GenerationMode.NEGATIVE, operation.label

    for result in schema.get_all_operations():
        operation = result.ok()
        path = operation.path
        if path in NOT_FUZZED:
            continue
        kind = next((k for prefix, k in REAL.items() if path.startswith(prefix)), None)
        if path.startswith("/api/taste/"):
            kind = "guide"
        elif path.startswith("/api/tokens/"):
            kind = "token"
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, None)
            if "{pk}" in path and kind:
                fuzz(operation, mode, real[kind])
        elapsed = time.monotonic() - started
        assert elapsed < BUDGET, f"the fuzz ran past its {BUDGET:.0f} s budget at {operation.label}"
    assert calls > 100, calls
    assert 500 not in statuses and statuses.get(400, 0) > 0 and statuses.get(200, 0) > 0, statuses
