"""A simulated agent asks its supervisors a question in real headless Chromium: it pauses, the question waits in the
task's attention queue, a person answers it on the agent's page, and the agent's next turn acts on the answer."""

from __future__ import annotations

import re

import pytest

from agents.simulator import QUESTION
from tests.browser import log_in, session, shot, write_and_launch_task

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def test_a_question_is_answered_in_the_browser_and_the_agent_goes_on_with_the_answer(live_app, browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    app = live_app(step_delay=0.3)
    with session(browser, app, "question") as (context, _):
        page = context.new_page()
        log_in(page, app.admin_password)
        write_and_launch_task(page, "Ask first", "Quinn = sim-curious")
        task_page = page.url
        waiting = page.locator("#attention .chip", has_text="Quinn")
        expect(waiting.locator(".why")).to_have_text("asks a question")  # live, on the task page
        shot(page, "question", "01-task-page-attention")

        # to the agent's page by the chip's link (every overview frame redraws the strip: a click may race a redraw)
        page.goto(waiting.get_attribute("href"))
        expect(page.locator("#transcript li.kind-question")).to_contain_text(QUESTION)
        expect(page.locator("#message-note")).to_contain_text(f"Quinn asks: “{QUESTION}”")
        expect(page.locator("#message-text")).to_have_attribute("placeholder", "Your answer to Quinn's question")
        shot(page, "question", "02-agent-asks", full_page=True)

        page.locator("#message-text").fill("Keep n-1: it is a sample estimate.")
        page.get_by_label("Answer; Quinn continues").check()
        page.locator("#send-message").click()
        reply = page.locator(
            "#transcript li.kind-model_turn", has_text='You answered "Keep n-1: it is a sample estimate."'
        )
        expect(reply.first).to_contain_text("so I will keep dividing by n-1")
        expect(page.locator("section.agent-header")).to_contain_text(re.compile("awaiting review", re.I))
        shot(page, "question", "03-answered-and-submitted", full_page=True)

        page.goto(task_page)
        expect(page.locator("#attention .chip", has_text="Quinn").locator(".why")).to_have_text("verdict pending")
