from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"

    def ready(self):
        from swarm_web import checks  # noqa: F401 (registers the deployment checks)
