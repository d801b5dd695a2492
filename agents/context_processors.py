from agents.models import Agent
from agents.permissions import Grants
from agents.teams import current_membership, memberships


def team(request):
    """The navigation's team selector, what the user's role in the current team allows, and who needs a person."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    membership = current_membership(request)
    if membership is None:
        return {"nav_memberships": [], "current_membership": None, "can": Grants(None)}
    return {
        "nav_memberships": memberships(user),
        "current_membership": membership,
        "can": Grants(membership.role),
        "nav_attention": Agent.objects.in_team(membership.team_id).filter(Agent.attention_q()).count(),
    }
