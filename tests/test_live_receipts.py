"""Message receipts as browsers see them, distributed (Celery worker, PostgreSQL, Redis): no page and no socket shows a
message go queued -> answered without "delivered", or a receipt step back, across socket drops, page reloads and a
worker stopped with SIGTERM and replaced. `make soak` loops it (benchmarks/live_receipts.py)."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack

import pytest

from benchmarks.live_receipts import run_receipts
from benchmarks.live_tools import start_app, tool
from tests.live_server import Unavailable, flush_redis_db, fresh_postgres_database, unavailable

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(600)]

REDIS_DB = 14
FAST = {
    "SWARM_SCHEDULER": "agents.scheduling.celery.CeleryScheduler",
    "SWARM_STEP_DELAY": "0.3",
    "SWARM_LEASE_SECONDS": "10",
    "SWARM_SWEEP_SECONDS": "1",
    "SWARM_STEP_OVERDUE_SECONDS": "4",
    "SWARM_BROKER_VISIBILITY_SECONDS": "15",
}


def test_every_receipt_a_watcher_sees_goes_queued_delivered_answered(tmp_path):
    with ExitStack() as stack:
        try:
            redis_url = flush_redis_db(REDIS_DB)
            database_url = stack.enter_context(fresh_postgres_database("swarm_receipts"))
        except Unavailable as exc:
            unavailable(str(exc))
        stack.callback(flush_redis_db, REDIS_DB)
        live = start_app(tmp_path, redis_url, database_url, **FAST)
        stack.callback(live.stop)
        info = tool(live, "prepare", "sender", "watcher")
        run = asyncio.run(run_receipts(live, info, rounds=1, agents=3, messages=8, seed=11))
    assert run.problems() == [], run.problems()
    assert run.sent == 8 and run.answered >= 4  # sent to running agents; answered unless the agent submitted first
    assert run.worker_restarts == 1 and run.drops >= 3 and run.views >= 6
