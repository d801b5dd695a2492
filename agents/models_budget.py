"""An agent's budget rule, in one place (Agent inherits it): its own budget (its allotment or the task's, plus what a
person granted it) for time, tokens and cost, and in a planner's tree the budget of each planner above it, and its
own as a planner: a planner's tree (the planner and every agent below it) spends no more tokens or cost than the
planner has, so no worker outspends its planner, whatever was granted to the worker alone. The runtime pauses by
it; the header, the grant and the resume ask it (Agent.needs_budget, Agent.grant_refusal, Agent.resume_refusal)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

# what the tree rule reads of each agent of the task, in one query
TREE_FIELDS = ("id", "parent_id", "name", "tokens_in", "tokens_out", "cost_usd", "allotted_tokens", "allotted_usd")
TREE_FIELDS += ("extra_tokens", "extra_usd")


@dataclass(frozen=True)
class BudgetStop:
    """Which budget stopped an agent (time, tokens or cost) and whose: its own (`planner_id` None), or that of the
    planner whose tree used it (`planner_id` is the agent's own id when it is that planner)."""

    kind: str
    planner: str = ""
    planner_id: int | None = None
    own_tree: bool = False

    def __str__(self) -> str:
        """Short, for a label: "tokens budget used up", "the planner Pat's tree used its tokens budget"."""
        if self.planner_id is None:
            return f"{self.kind} budget used up"
        whose = "its tree" if self.own_tree else f"the planner {self.planner}'s tree"
        return f"{whose} used its {self.kind} budget"

    @property
    def sentence(self) -> str:
        """What stopped it, for "<name> is paused: ..." (what is said of it after its name)."""
        return f"its {self.kind} budget is used up" if self.planner_id is None else str(self)

    @property
    def grant_to(self) -> str:
        """Whose budget a grant raises: "" its own (or, as a planner, its tree's), else the planner's name."""
        return "" if self.planner_id is None or self.own_tree else self.planner


class BudgetRule:
    """The budget part of Agent (a mixin: no fields of its own)."""

    @property
    def budget_minutes(self) -> int:
        base = self.task.budget_minutes if self.allotted_minutes is None else self.allotted_minutes
        return base + self.extra_minutes

    @property
    def budget_tokens(self) -> int:
        return (self.task.budget_tokens if self.allotted_tokens is None else self.allotted_tokens) + self.extra_tokens

    @property
    def budget_usd(self):
        return (self.task.budget_usd if self.allotted_usd is None else self.allotted_usd) + self.extra_usd

    def budget_fraction(self) -> dict[str, float]:
        usd = float(self.budget_usd)
        return {
            "time": min(1.0, self.elapsed_seconds / max(1, self.budget_minutes * 60)),
            "tokens": min(1.0, self.tokens / max(1, self.budget_tokens)),
            "cost": min(1.0, float(self.cost_usd) / usd) if usd else 1.0,
        }

    def budget_stop(self) -> BudgetStop | None:
        """The first budget used up: its own (time, tokens, cost), else the tree's of the nearest planner (itself as a
        planner first) whose tree used its tokens or cost; None while some of each is left. In a tree, one query."""
        own = next((name for name, used in self.budget_fraction().items() if used >= 1.0), "")
        if own:
            return BudgetStop(own)
        if not (self.parent_id or self.role == "planner") or self.pk is None:
            return None
        return tree_stop(self, self._budget_tree())

    def budget_used_up(self) -> str:
        """The budget_stop in a few words ("tokens budget used up"), or "" while some of each is left."""
        stop = self.budget_stop()
        return str(stop) if stop else ""

    @property
    def needs_budget(self) -> bool:
        """Paused with a budget used up: a person grants more (resuming alone would pause it again at once). A planner
        waiting for its workers waits for them, not for budget: their settling wakes it (and it pauses then)."""
        return self.status == self.Status.PAUSED and not self.waiting_on_workers and bool(self.budget_stop())

    def _budget_tree(self) -> dict[int, dict]:
        """The task's agents as the tree rule reads them, once per instance (refresh_from_db reads them again)."""
        if getattr(self, "_tree_rows", None) is None:
            rows = type(self).objects.filter(task_id=self.task_id).values(*TREE_FIELDS)
            self._tree_rows = {row["id"]: row for row in rows}
        return self._tree_rows

    def refresh_from_db(self, *args, **kwargs) -> None:
        self._tree_rows = None
        super().refresh_from_db(*args, **kwargs)

    @classmethod
    def share_budget_tree(cls, agents: list, whole_task: bool = False) -> None:
        """Read the tree once for these agents of one task (a grant), or from them when they are all of the task's
        (the tree page): their rules ask no more queries."""
        if not agents:
            return
        if whole_task:
            rows = {a.pk: {name: getattr(a, name) for name in TREE_FIELDS} for a in agents}
        else:
            rows = {row["id"]: row for row in cls.objects.filter(task_id=agents[0].task_id).values(*TREE_FIELDS)}
        for agent in agents:
            agent._tree_rows = rows


def tree_stop(agent, rows: dict[int, dict]) -> BudgetStop | None:
    """The tree rule on rows of the task's agents (TREE_FIELDS): the nearest planner, from the agent up, whose tree
    used up its tokens or cost (a planner without a budget in money is held to its tokens only)."""
    task, below = agent.task, {}
    for row in rows.values():
        below.setdefault(row["parent_id"], []).append(row["id"])
    node = rows.get(agent.pk)
    while node is not None:
        if node["id"] in below:
            tokens, usd = _spent(node["id"], rows, below)
            budget_tokens, budget_usd = (
                _budget(node, "tokens", task.budget_tokens),
                _budget(node, "usd", task.budget_usd),
            )
            kind = "tokens" if tokens >= budget_tokens else "cost" if budget_usd and usd >= budget_usd else ""
            if kind:
                return BudgetStop(kind, node["name"], node["id"], own_tree=node["id"] == agent.pk)
        node = rows.get(node["parent_id"])
    return None


def _budget(row: dict, key: str, task_budget):
    """A row's budget as Agent.budget_tokens / budget_usd reckon it: its allotment (else the task's) plus grants."""
    return (task_budget if row[f"allotted_{key}"] is None else row[f"allotted_{key}"]) + row[f"extra_{key}"]


def _spent(root: int, rows: dict[int, dict], below: dict[int, list[int]]) -> tuple[int, Decimal]:
    """Tokens and cost of an agent and every agent below it."""
    tokens, usd, todo = 0, Decimal(0), [root]
    while todo:
        row = rows[todo.pop()]
        tokens += row["tokens_in"] + row["tokens_out"]
        usd += row["cost_usd"]
        todo += below.get(row["id"], [])
    return tokens, usd
