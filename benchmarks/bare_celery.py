"""The bare plumbing the fleet benchmark compares Swarm's worker with: a Celery worker on the Redis broker with one
empty task and no Swarm code (`celery -A benchmarks.bare_celery worker`)."""

from __future__ import annotations

import os

from celery import Celery

app = Celery("bare", broker=os.environ["REDIS_URL"])


@app.task
def noop() -> None:
    """Nothing: the worker's own cost is what is measured."""
