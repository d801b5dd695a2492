"""Guards benchmark: 10 simulated agents per behaviour; what each guard caught, and what reached a person.

A scripted reviewer stands in for the person: it approves a verdict only when verification passed, and
otherwise rejects it with the verdict's reasons (which go back to the agent).
"""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model

from agents import demo, services
from agents.models import Agent, Membership
from judges import services as judging
from judges.models import Verdict
from tests import factories

BEHAVIOURS = ("diligent", "lazy", "quitter", "guesser", "looper")
AGENTS_PER_BEHAVIOUR = 10
MAX_ROUNDS = 40


def _reviewer(team):
    user, _ = get_user_model().objects.get_or_create(username="bench-reviewer")
    Membership.objects.get_or_create(team=team, user=user, defaults={"role": Membership.Role.REVIEWER})
    return user


def _review_pending(reviewer, agent_ids) -> None:
    for verdict in Verdict.objects.filter(agent_id__in=agent_ids, status=Verdict.Status.PENDING):
        passed = (verdict.evidence.get("verify") or {}).get("exit_code") == 0
        if verdict.recommendation == "approve" and passed:
            judging.review_verdict(verdict, reviewer, "approve")
        else:
            judging.review_verdict(verdict, reviewer, "reject", "Verification did not pass; see the reasons.")


def run() -> None:
    print("guards benchmark: 10 agents per simulated behaviour, scripted reviewer")
    header = f"{'behaviour':<10} {'nudges':>7} {'blind edits refused':>20} {'loops caught':>13} {'unverified to person':>21} {'accepted':>9} {'steps':>6} {'secs':>6}"
    print(header)
    print("-" * len(header))
    for behaviour in BEHAVIOURS:
        # a fresh demo repository per behaviour: approved work is merged, and must not pre-solve the next run
        team, template = demo.seed(f"Bench team {behaviour}")
        reviewer = _reviewer(team)
        started = time.monotonic()
        roster = [(f"{behaviour}{i}", f"sim-{behaviour}") for i in range(AGENTS_PER_BEHAVIOUR)]
        task = demo.task_like(template, roster, title=f"bench {behaviour}")
        agents = services.launch_task(task)
        ids = [a.pk for a in agents]
        for _ in range(MAX_ROUNDS):
            running = list(Agent.objects.filter(pk__in=ids, status=Agent.Status.RUNNING).values_list("pk", flat=True))
            if running:
                for pk in running:
                    factories.run_step(pk)
                continue
            if not Verdict.objects.filter(agent_id__in=ids, status=Verdict.Status.PENDING).exists():
                break
            _review_pending(reviewer, ids)
        rows = Agent.objects.filter(pk__in=ids)
        unverified = sum(
            1
            for v in Verdict.objects.filter(agent_id__in=ids)
            if not isinstance((v.evidence.get("verify") or {}).get("exit_code"), int)
        )
        print(
            f"{behaviour:<10} {sum(a.nudges for a in rows):>7} {sum(a.refused_edits for a in rows):>20} "
            f"{sum(a.loops_caught for a in rows):>13} {unverified:>21} "
            f"{rows.filter(status=Agent.Status.ACCEPTED).count():>6}/{len(ids):<2} "
            f"{sum(a.steps for a in rows):>6} {time.monotonic() - started:>6.1f}"
        )
