"""`manage.py swarm_bench`: the fleet benchmark (benchmarks/fleet.py). It starts Swarm's own processes with their own
data dir (and, distributed, their own PostgreSQL database and Redis database 13); this process only drives them."""

from django.core.management.base import BaseCommand, CommandError

from benchmarks import fleet, fleet_report
from tests.live_server import Unavailable


class Command(BaseCommand):
    help = "Run N agents whose model answers after a latency, watched over websockets; print one row of figures."

    def add_arguments(self, parser):
        parser.add_argument("--agents", type=int, default=32)
        parser.add_argument("--latency", type=float, default=2.0, help="seconds each model call takes")
        parser.add_argument("--mode", choices=("embedded", "distributed"), default="embedded")
        parser.add_argument(
            "--model",
            choices=("server", "sim"),
            default="server",
            help="server: a local OpenAI-protocol server through the profile's api_base (the real litellm path); "
            "sim: the simulator with SWARM_SIM_LATENCY",
        )
        parser.add_argument("--window", type=float, default=30.0, help="seconds measured, after the warm-up")
        parser.add_argument("--watchers", type=int, default=4, help="viewers, each on the overview and one agent")
        parser.add_argument("--step-delay", type=float, default=0.8, help="SWARM_STEP_DELAY")
        parser.add_argument("--concurrency", type=int, default=4, help="distributed: the worker's --concurrency")
        parser.add_argument("--warmup", type=float, default=None, help="seconds (default: one cycle and 2 s)")
        parser.add_argument("--bare-calls", type=int, default=200, help="bare litellm calls timed")

    def handle(self, *args, **options):
        case = fleet.Case(
            agents=options["agents"],
            latency=options["latency"],
            mode=options["mode"],
            model=options["model"],
            window=options["window"],
            watchers=options["watchers"],
            step_delay=options["step_delay"],
            concurrency=options["concurrency"],
            warmup=options["warmup"],
            bare_calls=options["bare_calls"],
        )
        say = lambda line: self.stdout.write(line)  # noqa: E731
        try:
            fleet_report.report(fleet.run(case, say=say), say=say)
        except Unavailable as exc:
            raise CommandError(str(exc)) from None
