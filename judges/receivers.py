from agents.signals import work_submitted
from judges import services


def _on_submit(sender, agent_id: int, commit_sha: str, summary: str, **kwargs) -> None:
    services.verify_submission(agent_id, commit_sha, summary)


work_submitted.connect(_on_submit, dispatch_uid="judges.verify_on_submit")
