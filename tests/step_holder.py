"""A separate process that runs one agent step against the test database: `python -m tests.step_holder DB ID`, or
with `verify COMMIT` after them, the verification of the agent's submission of that commit.

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
    if sys.argv[3:4] == ["verify"]:
        from judges.services import verify_submission

        print(f"VERDICT {verify_submission(agent_id, sys.argv[4], 'from a holder')!r}", flush=True)
        return
    print(f"STEP RETURNED {factories.run_step(agent_id)!r}", flush=True)


if __name__ == "__main__":
    main()
