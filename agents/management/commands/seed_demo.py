from django.core.management.base import BaseCommand

from agents import demo_planner
from agents.demo import ensure_admin, seed


class Command(BaseCommand):
    help = "Create the demo team, repository, task, taste guide, skills, simulator profiles and the admin account."

    def handle(self, *args, **options):
        team, task = seed()
        planned = demo_planner.seed(team)
        ensure_admin(team, out=self.stdout)
        self.stdout.write(
            f"Demo ready: team {team.name!r}, task {task.title!r} (#{task.pk}), and {planned.title!r} (#{planned.pk})."
        )
