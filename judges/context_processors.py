from agents.teams import current_membership
from judges.models import Verdict


def reviews(request):
    """The navigation's count of verdicts waiting for a person in the current team."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    membership = current_membership(request)
    if membership is None:
        return {}
    return {"nav_pending_reviews": Verdict.objects.in_team(membership.team_id).pending().count()}
