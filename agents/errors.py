"""Refusals a person should read, shared by services, forms, pages and the API (which answers them as JSON).

Apart from agents/services.py so that the modules services call (permissions among them) can raise them too.
"""

from __future__ import annotations


class ServiceError(Exception):
    """A refusal a person should read; `status` is the HTTP status the API answers with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


class FieldError(ServiceError):
    """A 400 that names the body field (or query parameter) at fault."""

    def __init__(self, where: str, message: str, status: int = 400, *, named: bool = True):
        # "title must not be empty." / "budget.usd: Ensure that there are ..." (a sentence of its own); named=False:
        # the message is said as it is (a refusal that is about the field without starting with its name)
        if named:
            message = f"{where} {message}" if message[:1].islower() else f"{where}: {message}"
        super().__init__(message, status)
        self.field = where


class InvalidForm(FieldError):
    """A form's errors as one refusal: the page shows them in place (`form`), the API answers the first field and
    every problem in one sentence. `message` replaces that sentence (a 409 says it in its own words)."""

    def __init__(self, form, status: int = 400, message: str | None = None, names: dict[str, str] | None = None):
        # `names`: the caller's own names for the form's fields (a task file's `budgets.usd` for `budget_usd`)
        problems = [((names or {}).get(field, field), " ".join(errors)) for field, errors in form.errors.items()]
        super().__init__(*problems[0], status)
        if len(problems) > 1:
            self.message = "; ".join(f"{field}: {error}" for field, error in problems)
        self.message = message or self.message
        self.form = form


def refuse_while_working(agents, what: str, advice: str, use: str = "are working with it") -> None:
    """A 409 naming the tasks whose agents (a queryset of Agent) still work with `what`, if any."""
    titles = sorted(set(agents.exclude(status__in=agents.model.FINISHED).values_list("task__title", flat=True)))
    if titles:
        names = ", ".join(f"“{t}”" for t in titles)
        raise ServiceError(f"{what} is in use by {names}, whose agents {use}. {advice}", 409)
