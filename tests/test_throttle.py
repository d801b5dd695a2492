"""Guessing passwords and API tokens: django-axes counts failures per account-and-address and per address, and
locks out (even the right password) until the cool-off. Weak passwords are refused when they are set."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from agents.models import ApiToken, Team
from tests.factories import make_user

PASSWORD = "pw-for-tests-123"  # what tests.factories gives every user
LIMIT = 5  # SWARM_LOGIN_FAILURE_LIMIT's default


@pytest.fixture
def accounts(db) -> Team:
    """alice and bob, operators of a team of their own (plain `db`, no demo: only their accounts matter here)."""
    team = Team.objects.create(name="Throttled team")
    make_user("alice", team)
    make_user("bob", team)
    return team


def log_in(username: str, password: str, address: str):
    return Client().post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/"


def test_failed_logins_lock_that_account_from_that_address_even_with_the_right_password(accounts):
    assert logged_in(log_in("alice", PASSWORD, "10.0.0.1"))  # control: the password works
    for _ in range(LIMIT):
        response = log_in("alice", "guess", "10.0.0.1")
        assert response.status_code in {200, 429}  # the form again, then the lockout page
    locked = log_in("alice", PASSWORD, "10.0.0.1")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed logins" in page and "Even the right password is refused" in page
    assert "sessionid" not in locked.cookies or not locked.cookies["sessionid"].value
    # a guesser elsewhere cannot lock Alice out of her own desk
    assert logged_in(log_in("alice", PASSWORD, "10.0.0.9"))


def test_an_address_that_tries_many_accounts_is_locked_for_every_account(accounts):
    for name in ("root", "admin", "alice", "carol", "dave"):
        log_in(name, "guess", "10.0.0.2")
    assert log_in("bob", PASSWORD, "10.0.0.2").status_code == 429  # bob never failed, his address did
    assert logged_in(log_in("bob", PASSWORD, "10.0.0.3"))


def test_the_lockout_lapses_after_the_cool_off(accounts, settings):
    for _ in range(LIMIT):
        log_in("alice", "guess", "10.0.0.4")
    assert log_in("alice", PASSWORD, "10.0.0.4").status_code == 429
    # the cool-off passes: the recorded failures are now older than it
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert logged_in(log_in("alice", PASSWORD, "10.0.0.4"))


def api_get(token: str, address: str):
    return Client().get("/api/tasks", HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR=address)


@pytest.fixture
def token(accounts) -> str:
    from io import StringIO

    out = StringIO()
    call_command("api_token", "alice", stdout=out)
    return out.getvalue().strip().split()[-1]


def test_wrong_api_tokens_are_throttled_per_address_with_a_clear_answer(token):
    assert api_get(token, "10.0.1.1").status_code == 200  # control: the token works
    answers = [api_get(f"guess-{i}", "10.0.1.1") for i in range(LIMIT)]
    assert [a.status_code for a in answers] == [401] * (LIMIT - 1) + [429]  # the guess that reaches the limit
    assert all("error" in a.json() for a in answers)
    locked = api_get(token, "10.0.1.1")  # even the right token, from that address
    assert locked.status_code == 429
    assert "Too many failed logins or API tokens from your address" in locked.json()["error"]
    assert api_get(token, "10.0.1.2").status_code == 200  # another address is not affected
    assert ApiToken.objects.count() == 1


def test_password_guesses_and_token_guesses_add_up_for_an_address(token):
    for _ in range(LIMIT - 1):
        log_in("alice", "guess", "10.0.2.1")
    assert api_get(token, "10.0.2.1").status_code == 200  # four failures: not locked yet
    assert api_get("guess", "10.0.2.1").status_code == 429  # the fifth, a token, reaches the limit
    assert api_get(token, "10.0.2.1").status_code == 429


def test_common_and_lookalike_passwords_are_refused(accounts):
    user = make_user("margaret", accounts)
    for weak in ("password123", "qwertyuiop", "margaret1", "12345678901"):
        with pytest.raises(ValidationError):
            validate_password(weak, user)
    validate_password("correct horse battery staple", user)  # control: a real passphrase is fine


def test_behind_a_proxy_one_guessers_failures_lock_only_that_client(accounts, settings):
    def via_proxy(username: str, password: str, client: str):
        return Client().post(
            "/accounts/login/",
            {"username": username, "password": password},
            REMOTE_ADDR="10.9.9.9",  # the proxy: every request comes from it
            HTTP_X_FORWARDED_FOR=client,
        )

    # control: without SWARM_PROXY_COUNT every client is the proxy, and one guesser locks everybody out
    for name in ("root", "admin", "carol", "dave", "erin"):
        via_proxy(name, "guess", "203.0.113.7")
    assert via_proxy("bob", PASSWORD, "198.51.100.2").status_code == 429
    AccessAttempt.objects.all().delete()

    settings.SWARM_PROXY_COUNT = 1
    for name in ("root", "admin", "carol", "dave", "erin"):
        via_proxy(name, "guess", "203.0.113.7")
    assert via_proxy("bob", PASSWORD, "203.0.113.7").status_code == 429  # the guesser stays locked
    assert logged_in(via_proxy("bob", PASSWORD, "198.51.100.2"))  # everyone else is not
    # a client that writes its own X-Forwarded-For cannot pick the address it is counted under
    assert via_proxy("bob", PASSWORD, "198.51.100.2, 203.0.113.7").status_code == 429
