"""The tools that reach beyond the agent's worktree: its teammates (message_agent), its supervisors (ask_person) and
the team's skills (load_skill, read_skill_file, finish_skill)."""

from __future__ import annotations

from agents import services, skill_library
from agents.models import Agent
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


MAX_SKILL_FILE_TEXT = 100_000


def load_skill(agent: Agent, args: dict) -> tuple[str, str, dict]:
    """The body of one of the task's skills, in the version the task pinned; each load is recorded as an event, the first as a use. Returns
    (result for the model, activity, the skill the agent follows now: it replaces the one it followed)."""
    version = skill_library.version_for(agent, args.get("name"))
    name = version.skill.name
    files = list(version.files.values_list("path", flat=True))
    skill_library.record_use(agent, version)  # counted once per run; every load is an event
    services.record_event(agent.pk, "skill_loaded", {"skill": name, "version": version.number, "files": files})
    active = skill_library.active(version)
    text = f"# Skill: {name} (version {version.number})\n{version.body}"
    if files:
        text += (
            f"\n\nIts files (read one with read_skill_file; they are also at {skill_library.SANDBOX_ROOT}/{name}/ in"
            " your sandbox, read-only, so its scripts run there):\n" + "\n".join(f"- {p}" for p in files)
        )
    if active["tools"]:
        text += (
            f"\n\nWhile you follow this skill, only its allowed tools run: {', '.join(active['tools'])} (and"
            " load_skill, read_skill_file, finish_skill). Call finish_skill when you are done with it."
        )
    return text, f"loaded skill {name}", active


def finish_skill(active: dict) -> tuple[str, str]:
    """The agent is done with the skill it loaded last: its allowed tools bound its calls no more."""
    if not active:
        raise ToolRefused("you follow no skill now (load_skill loads one); there is nothing to finish")
    return f"finished the skill {active['name']}: every tool is yours again", f"finished skill {active['name']}"


def read_skill_file(agent: Agent, args: dict) -> tuple[str, str]:
    """One file of one of the task's skills (a reference, a script), as text."""
    version = skill_library.version_for(agent, args.get("name"))
    path = args.get("path").strip() if isinstance(args.get("path"), str) else ""
    path = path.removeprefix("/skills/" + version.skill.name + "/").removeprefix("./")
    found = version.files.filter(path=path).first()
    if found is None:
        paths = ", ".join(version.files.values_list("path", flat=True)) or "none"
        raise ToolRefused(f"skill {version.skill.name} has no file {path[:200]!r}; its files: {paths}")
    text = found.text()
    if text is None:
        where = f"{skill_library.SANDBOX_ROOT}/{version.skill.name}/{found.path}"
        return (
            f"{found.path} is a binary file of {found.size} bytes; it is at {where} in your sandbox.",
            "read skill file",
        )
    cut = "\n… [cut]" if len(text) > MAX_SKILL_FILE_TEXT else ""
    return text[:MAX_SKILL_FILE_TEXT] + cut, f"read {version.skill.name}/{found.path}"[:120]
