import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swarm_web.settings")

app = Celery("swarm_web")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _sweep_on_start(**_kwargs) -> None:
    # Every worker sweeps (idempotent): agents whose step was lost with a crashed worker or broker get a new one.
    from agents.executor import start_sweeper

    start_sweeper()
