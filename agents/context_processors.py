from agents.models import Agent
from agents.services import user_team_ids


def attention(request):
    """Counts for the navigation: who needs a person now."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from judges.models import Verdict

    teams = user_team_ids(user)
    return {
        "nav_pending_reviews": Verdict.objects.filter(
            status=Verdict.Status.PENDING, agent__task__team_id__in=teams
        ).count(),
        "nav_attention": Agent.objects.filter(task__team_id__in=teams, status__in=Agent.ATTENTION).count(),
    }
