"""A separate process that runs one agent step against the test database: `python -m tests.step_holder DB ID`.

The fault tests start it, watch its lease, and kill it mid-step like a crashed worker.
"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def main() -> None:
    database, agent_id = sys.argv[1], int(sys.argv[2])
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = database  # the test's database, not the app's
    import django

    django.setup()
    from agents import lease
    from tests import factories

    print(f"HOLDER {lease.worker_id()}", flush=True)
    print(f"STEP RETURNED {factories.run_step(agent_id)!r}", flush=True)


if __name__ == "__main__":
    main()
