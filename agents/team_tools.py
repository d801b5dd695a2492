"""The tools that reach beyond the agent's worktree: its teammates (message_agent), its supervisors (ask_person) and
the team's skills."""

from __future__ import annotations

from agents import services
from agents.models import Agent, Skill
from agents.tool_errors import ToolRefused


def message_agent(agent: Agent, args: dict) -> tuple[str, str]:
    to, text = args.get("to"), args.get("text")
    if not isinstance(to, str) or not isinstance(text, str) or not text.strip():
        raise ToolRefused("message_agent needs `to` (a teammate's name, or 'all') and `text`")
    teammates = Agent.objects.filter(task_id=agent.task_id).exclude(pk=agent.pk)
    targets = list(teammates if to.strip().lower() == "all" else teammates.filter(name__iexact=to.strip()))
    if not targets:
        names = ", ".join(teammates.values_list("name", flat=True)[:50])
        raise ToolRefused(f"no teammate named {to!r}; teammates: {names}")
    sent = []
    for target in targets:
        try:
            services.inject_message(target, text, sender_agent=agent)
            sent.append(target.name)
        except services.ServiceError:
            continue  # finished agents take no messages
    if not sent:
        raise ToolRefused("every recipient has finished; nobody got the message")
    return f"message sent to {', '.join(sent)}", f"messaged {', '.join(sent)[:80]}"


MAX_QUESTION = 2_000


def ask_person(agent: Agent, args: dict) -> tuple[str, str, str]:
    """A question for the agent's supervisors: recorded as an event, and the agent pauses on it (the step's ending).
    Returns (result for the model, activity, the pause reason); a person's answer resumes it as an injected message."""
    question = args.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ToolRefused("ask_person needs a `question` (one question a person can answer)")
    question = services.clean_text(question.strip(), MAX_QUESTION)
    services.record_event(agent.pk, "question", {"question": question})
    result = (
        "Your question went to your supervisors. You are paused until one of them answers; the answer arrives as a "
        "message, and you continue from there."
    )
    return result, f"asking: {question[:180]}", f"{Agent.QUESTION_PAUSE}{' '.join(question.split())}"[:300]


def load_skill(agent: Agent, args: dict) -> tuple[str, str]:
    name = args.get("name")
    skill = Skill.objects.in_team(agent.task.team_id).filter(name__iexact=str(name or "").strip()).first()
    if skill is None:
        names = ", ".join(agent.task.skills.values_list("name", flat=True))
        raise ToolRefused(f"no skill named {name!r}; available: {names or 'none'}")
    return f"# Skill: {skill.name}\n{skill.body}", f"loaded skill {skill.name}"
