from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from agents import tokens
from agents.errors import ServiceError
from agents.models import ApiToken


class Command(BaseCommand):
    help = (
        "Print a new API token for USERNAME (use it as `Authorization: Bearer <token>`). Its scope narrows what the"
        " user's roles allow: read, operate, review or admin (the default: all the roles allow)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--scope", choices=ApiToken.Scope.values, default=ApiToken.Scope.ADMIN)
        parser.add_argument("--name", default="", help="what it is for, listed on the team page (unique per user)")

    def handle(self, *args, username: str, scope: str, name: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        if not name:  # as before names existed: unnamed, listed as such on the team page
            self.stdout.write(ApiToken.issue(user, "", scope))
            return
        try:
            _, raw = tokens.create_token(user, name, scope)
        except ServiceError as exc:
            raise CommandError(f"{getattr(exc, 'field', '')} {exc.message}".strip()) from None
        self.stdout.write(raw)
