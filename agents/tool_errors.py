"""The refusal every tool raises, in the worktree (tools.py), among teammates (team_tools.py) or at submission
(guards.py): the call was not carried out, and the message says why, for the agent and the person."""


class ToolRefused(Exception):
    """The tool call was not carried out; the message explains why, for the agent and the person."""
