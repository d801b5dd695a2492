"""The judge benchmark's smallest case, run as `make bench` runs it, so it cannot rot unseen: one hard-coded output
(only a judge can catch it) and one skipped test on the real repository (verification catches it), once each,
with the simulated panel and with a configured judge (a local OpenAI-protocol server) that approves everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from agents.demo import HOUSE_STYLE
from tests.live_server import ROOT
from tests.openai_server import OpenAIServer, reply

pytestmark = [pytest.mark.own_sqlite, pytest.mark.timeout(600)]

# approves everything, scoring every taste rule of the bench's tasks as met (a judge that skips one is not heard)
APPROVE = json.dumps(
    {
        "recommendation": "approve",
        "checklist": [
            {"kind": "taste", "item": rule, "status": "met", "evidence": "looks fine"} for rule in HOUSE_STYLE
        ],
        "reasons": ["looks right"],
    }
)


def row(out: str, table: str, kind: str) -> list[str]:
    """The cells of `kind`'s row in the table printed after the `table` heading."""
    section = out.split(f"judge benchmark ({table}", 1)[1].split("false approvals in total", 1)[0]
    line = next(line for line in section.splitlines() if line.startswith(kind))
    return line[len(kind) :].split()


def test_a_false_approval_fails_the_benchmark_and_verification_alone_is_measured():
    with OpenAIServer() as server:
        server.script(reply(APPROVE), reply(APPROVE))
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SWARM_SCHEDULER"}}
        env.update(
            DJANGO_SETTINGS_MODULE="swarm_web.settings",
            SWARM_BENCH_JUDGE_CASES="expected output hard-coded (demo),skip marker (inflection)",
            SWARM_BENCH_JUDGE_REPEATS="1",
            SWARM_BENCH_JUDGES=f"openai/test-model|SWARM_TEST_KEY|approving|{server.base_url}",
            SWARM_MODEL_HOSTS="127.0.0.1:*",
            SWARM_MODEL_KEY_ENVS="SWARM_TEST_KEY",
            SWARM_TEST_KEY="sk-test-judge-bench",
        )
        argv = [sys.executable, "-m", "benchmarks", "judges"]
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=560)
        prompts = [json.dumps(r.body["messages"]) for r in server.requests]
    out = done.stdout
    assert done.returncode == 1, out[-3000:] + done.stderr[-3000:]
    assert "FAILED judges: a wrong submission was recommended for approval" in done.stderr

    # the simulated panel approves neither; the judge that approves everything gets the hard-coded one through
    assert row(out, "simulated judges", "expected output hard-coded")[:4] == ["demo", "0/1", "0", "0/1"]
    assert row(out, "configured judges", "expected output hard-coded")[:4] == ["demo", "1/1", "1", "0/1"]
    # the skipped test is stopped by verification, measured on the verdict, whatever the judge says
    assert row(out, "configured judges", "skip marker")[:4] == ["inflection", "0/1", "0", "1/1"]
    assert row(out, "simulated judges", "skip marker")[:4] == ["inflection", "0/1", "0", "1/1"]

    # the judge was told the task and the claim, never the seeded kind
    assert len(prompts) == 2
    for prompt in prompts:
        assert "hard-coded" not in prompt and "skip marker" not in prompt and "judge bench" not in prompt
        assert "Fixed the cause of the failing test" in prompt
