from django.apps import AppConfig


class JudgesConfig(AppConfig):
    name = "judges"

    def ready(self) -> None:
        from agents.messaging import register_withdrawal
        from agents.models import register_event_kinds
        from judges import receivers  # noqa: F401  connects to agents.signals.work_submitted
        from judges.models import EventKind

        register_event_kinds(self.label, EventKind)
        register_withdrawal("judges.services.withdraw_submission")  # "withdraw and continue" on a message
