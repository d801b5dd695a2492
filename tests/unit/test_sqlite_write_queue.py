"""The embedded mode's SQLite writers queue on one lock per process (swarm_web/sqlite): a transaction holds it until it
ends, however it ends, so one failed write never leaves every other thread of the process waiting."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from agents.models import Team
from swarm_web.sqlite.base import _lock_for

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite backend's own lock")


def _lock() -> threading.Lock:
    return _lock_for(str(connection.settings_dict["NAME"]))


def test_a_write_transaction_holds_the_lock_until_it_commits_or_fails(transactional_db):
    with transaction.atomic():
        Team.objects.create(name="Kept")
        assert _lock().locked()  # another thread's write waits here, not in SQLite's polling
    assert not _lock().locked()

    with pytest.raises(ValueError), transaction.atomic():
        Team.objects.create(name="Rolled back")
        raise ValueError("the step failed")
    assert not _lock().locked()

    team = Team.objects.create(name="Autocommit")  # a write outside a transaction takes and gives it too
    with pytest.raises(IntegrityError):
        Team.objects.create(pk=team.pk, name="Same key")
    assert not _lock().locked()


def test_threads_writing_at_once_all_commit_and_leave_the_lock_free(transactional_db):
    written = []

    def write(i: int) -> None:
        try:
            for j in range(5):
                with transaction.atomic():
                    written.append(Team.objects.create(name=f"T{i}-{j}").pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(written) == 30 and not _lock().locked()
    assert Team.objects.filter(name__startswith="T").count() == 30
