from django.apps import AppConfig


class JudgesConfig(AppConfig):
    name = "judges"

    def ready(self) -> None:
        from judges import receivers  # noqa: F401  connects to agents.signals.work_submitted
