"""The seams between the runtime and the apps that listen to it: the runtime announces, judges and notifications
listen. Every signal here is sent after the commit of the change it announces."""

from django.dispatch import Signal

# An agent submitted its work. kwargs: agent_id, commit_sha, summary.
work_submitted = Signal()

# Sent by every sweep (see agents.scheduling.sweep): listeners recover their own lost work. kwargs: startup (the
# process just started: nothing it had queued is still there).
sweeping = Signal()

# An agent's status changed (agents.services.append_events sends it for every "status" event). kwargs: agent_id,
# status, reason.
status_changed = Signal()

# An agent's work waits for a person's decision (judges send it when a verdict is made and not decided by policy).
# kwargs: agent_id, verdict_id, recommendation (its label).
awaiting_decision = Signal()
