"""The task form's roster generator: rows of "N agents of profile P" with names drawn from an editable list fill the
roster's lines, which the form checks as it checks typed ones; the preview shows the agents before anything is
saved. With JavaScript the roster block is swapped in alone; without it, the form comes back filled."""

from __future__ import annotations

import html
import re

from agents import roster
from agents.models import TaskSpec


def roster_lines(page: str) -> list[str]:
    found = re.search(r'<textarea name="roster_text"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, "no roster field"
    return [line for line in html.unescape(found.group(1)).splitlines() if line.strip()]


def generate(client, rows: list[tuple[int | str, str]], names: str | None = None, path="/tasks/roster/generate/"):
    data = {
        "gen_count": [str(n) for n, _ in rows],
        "gen_profile": [p for _, p in rows],
        "gen_names": roster.default_names() if names is None else names,
    }
    return client.post(path, data)


def fields(demo, title: str, lines: list[str]) -> dict:
    return {
        "title": title,
        "repo": demo[1].repo_id,
        "goal": "g",
        "acceptance_text": "a",
        "budget_minutes": 10,
        "budget_tokens": 1000,
        "budget_usd": 1,
        "judge_rule": "unanimous",
        "roster_text": "\n".join(lines),
    }


def test_rows_of_profiles_fill_the_roster_with_names_from_the_list_and_the_preview_shows_them(alice_client, demo):
    response = generate(alice_client, [(12, "sim-diligent"), (8, "sim-lazy"), ("", "sim-lazy")])
    assert response.status_code == 200
    page = response.content.decode()
    lines = roster_lines(page)
    assert len(lines) == 20
    assert lines[:3] == ["Ada = sim-diligent", "Grace = sim-diligent", "Linus = sim-diligent"]
    assert [line.split(" = ")[1] for line in lines] == ["sim-diligent"] * 12 + ["sim-lazy"] * 8
    assert "<strong>20 agents</strong> of 2 profiles" in page
    assert "<dt>12 × sim-diligent</dt><dd>Ada, Grace, Linus," in page
    assert "Ready to save." in page
    assert page.count('name="gen_count"') == 3  # the two rows filled, one more to mix in another profile

    saved = alice_client.post("/tasks/new/", fields(demo, "Twenty", lines))
    assert saved.status_code == 302
    task = TaskSpec.objects.get(title="Twenty")
    assert len(task.roster) == 20 and task.roster[19] == {"name": lines[19].split(" = ")[0], "profile": "sim-lazy"}


def test_the_default_names_make_hundreds_of_distinct_agents_then_start_over_with_a_number(alice_client, demo):
    names = roster_lines(generate(alice_client, [(1000, "sim-diligent")]).content.decode())
    assert len(names) == 1000
    plain = [line for line in names if not re.search(r"\d = ", line)]
    assert len(plain) > 300  # a few hundred names before any number
    assert names[len(plain)] == "Ada2 = sim-diligent"
    assert len({n.lower() for n in names}) == 1000

    saved = alice_client.post("/tasks/new/", fields(demo, "Thousand", names))
    assert saved.status_code == 302  # 1,000 lines fit the field
    assert len(TaskSpec.objects.get(title="Thousand").roster) == 1000


def test_an_edited_list_of_names_is_used_in_its_order_each_name_once(alice_client):
    page = generate(alice_client, [(5, "sim-lazy")], names="Zed, Yara\nzed  Xu").content.decode()
    assert [line.split(" = ")[0] for line in roster_lines(page)] == ["Zed", "Yara", "Xu", "Zed2", "Yara2"]


def test_the_generator_says_what_is_wrong_and_leaves_the_roster_alone(alice_client):
    page = generate(alice_client, [(600, "sim-lazy"), (401, "sim-diligent")]).content.decode()
    assert "At most 1,000 agents per task; these rows add up to 1,001." in page
    assert roster_lines(page) == []
    assert 'value="600"' in page and 'value="401"' in page  # the rows as typed

    page = generate(alice_client, [(2, "sim-lazy")], names="Ada, 9lives, Zoë").content.decode()
    assert "These cannot name an agent: 9lives, Zoë." in html.unescape(page)
    assert roster_lines(page) == []

    page = generate(alice_client, [("", "sim-lazy")]).content.decode()
    assert "Say how many agents of which profile, in at least one row." in page


def test_the_preview_shows_what_the_typed_lines_make_and_the_forms_own_complaints(alice_client):
    text = "Ada = sim-diligent\nada = sim-lazy\nBob = gpt-9\nno equals sign"
    page = html.unescape(alice_client.post("/tasks/roster/preview/", {"roster_text": text}).content.decode())
    assert "<strong>3 agents</strong> of 3 profiles" in page
    assert "“ada” appears twice" in page
    assert "“gpt-9” is not a model profile of your team" in page
    assert "“no equals sign”: write it as Name = profile." in page
    assert "Ready to save." not in page

    page = alice_client.post("/tasks/roster/preview/", {"roster_text": "<b>x</b> = sim-lazy"}).content.decode()
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_without_javascript_the_fill_button_returns_the_form_as_typed_with_the_roster_filled(alice_client):
    form = {"title": "Kept", "goal": "Keep what I typed", "acceptance_text": "", "roster_text": "Old = sim-lazy"}
    response = alice_client.post(
        "/tasks/new/",
        {**form, "generate": "1", "gen_count": ["3"], "gen_profile": ["sim-lazy"], "gen_names": "Ann, Bea, Cy"},
    )
    assert response.status_code == 200
    assert not TaskSpec.objects.filter(title="Kept").exists()
    page = response.content.decode()
    assert roster_lines(page) == ["Ann = sim-lazy", "Bea = sim-lazy", "Cy = sim-lazy"]
    assert 'value="Kept"' in page and "Keep what I typed</textarea>" in page
    assert "Please fix the fields" not in page  # nothing is checked before the person saves
    assert "<dt>3 × sim-lazy</dt><dd>Ann, Bea, Cy</dd>" in page


def test_the_form_page_opens_with_the_generator_and_its_default_names(alice_client, demo):
    _, task = demo
    page = alice_client.get("/tasks/new/").content.decode()
    assert '<textarea id="gen-names" name="gen_names"' in page and "Ada\nGrace\nLinus" in page
    assert "No agents yet." in page
    edit = alice_client.get(f"/tasks/{task.pk}/edit/").content.decode()
    assert "<strong>8 agents</strong> of 3 profiles" in edit  # the saved roster, previewed
