"""An agent's model conversation, one row per message, so a step appends what is new instead of rewriting it all.

agents/conversations.py is the only module that reads or writes these rows.
"""

from __future__ import annotations

from django.db import models


class ConversationEntry(models.Model):
    """One message of an agent's conversation (the system prompt excluded: each step rebuilds it with fresh budget
    figures); `position` is its index in the conversation."""

    # no index of its own: the unique constraint's index starts with the agent
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.CASCADE, related_name="conversation_entries", db_index=False
    )
    position = models.PositiveIntegerField()
    message = models.JSONField()

    class Meta:
        verbose_name_plural = "conversation entries"
        constraints = [
            models.UniqueConstraint(fields=["agent", "position"], name="conversation_position_unique_per_agent")
        ]
