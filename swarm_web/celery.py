import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swarm_web.settings")

app = Celery("swarm_web")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _sweep_on_start(**_kwargs) -> None:
    # A worker that starts after a crash picks up agents whose step was lost with it.
    from agents.executor import resume_orphans

    resume_orphans()
