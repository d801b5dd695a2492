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
        from django.db.models.signals import post_migrate

        from judges import search_index

        # SQLite: run search's FTS5 triggers, made again if a migration rebuilt one of their tables
        post_migrate.connect(search_index.after_migrate, sender=self, dispatch_uid="judges.search_index")
