"""The seam between the runtime and verification: the runtime announces, judges listen."""

from django.dispatch import Signal

# Sent after commit when an agent submits its work. kwargs: agent_id, commit_sha, summary.
work_submitted = Signal()

# Sent by every sweep (see agents.scheduling.sweep): listeners recover their own lost work. kwargs: startup (the
# process just started: nothing it had queued is still there).
sweeping = Signal()
