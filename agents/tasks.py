"""Celery finds an app's tasks in its `tasks` module: the agents' tasks live with the Celery scheduler."""

from agents.scheduling.celery import prepare, step, sweep_lost_steps  # noqa: F401
