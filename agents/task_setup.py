"""A team's tasks and taste guides as people write them: saving a task spec or a taste guide, for the pages and the API.

The rules are the forms' (agents/forms.py); each save checks the role, validates, and saves the row with its many-
to-many links in one transaction. Apart from agents/services.py, which holds the changes to the work itself
(launching, agents, events, messages), as agents/team_setup.py holds repositories and model profiles.
"""

from __future__ import annotations

from django.db import transaction

from agents.errors import InvalidForm
from agents.forms import TaskFieldsForm, TasteGuideForm
from agents.models import TaskSpec, TasteGuide
from agents.permissions import require


def save_task(by, form: TaskFieldsForm) -> TaskSpec:
    """Write a new task or change one as the form says (the page's TaskSpecForm or the API's TaskFieldsForm, whose
    acceptance criteria and roster the caller has set on the instance); operators and admins only."""
    require(by, form.team.pk, "edit_task")
    if not form.is_valid():
        raise InvalidForm(form)
    if form.instance.pk is None:
        form.instance.created_by = by
    with transaction.atomic():  # the row and its taste guides, skills and judges, or none of them
        return form.save()


def save_taste_guide(by, form: TasteGuideForm) -> TasteGuide:
    """Write a new taste guide or change one (its instance names the team); operators and admins only."""
    require(by, form.instance.team_id, "edit_taste")
    if not form.is_valid():
        raise InvalidForm(form)
    with transaction.atomic():
        return form.save()
