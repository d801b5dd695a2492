"""A deployment (SWARM_PRODUCTION=true) passes `manage.py check --deploy` with no warning, and Swarm's own checks
refuse what Django's do not: ALLOWED_HOSTS=*, the development key, a missing CSP."""

from __future__ import annotations

import os
import secrets
import subprocess

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from swarm_web.settings import DEV_SECRET_KEY
from tests.live_server import BIN, ROOT, Unavailable, unavailable


def manage(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "DJANGO_", "DATABASE_", "REDIS_"))}
    clean.pop("SECRET_KEY", None)
    clean.pop("ALLOWED_HOSTS", None)
    clean.update(DJANGO_SETTINGS_MODULE="swarm_web.settings", SWARM_DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [str(BIN / "python"), "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


# a deployment names its mail server: with the console backend Django's own deploy check (mail.E001) fails it
PRODUCTION = {"SWARM_PRODUCTION": "true", "ALLOWED_HOSTS": "swarm.example.com", "EMAIL_HOST": "smtp.example.com"}


def test_a_production_configuration_passes_the_deploy_check_with_no_warning(tmp_path):
    done = manage(
        tmp_path, "check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=secrets.token_urlsafe(60), **PRODUCTION
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_without_production_mode_the_deploy_check_warns(tmp_path):
    """Control: the same check with SWARM_PRODUCTION off finds the cookies, HSTS and redirect missing."""
    done = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=secrets.token_urlsafe(60))
    assert done.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in done.stderr, warning


def test_production_settings_set_secure_cookies_hsts_and_the_proxy_header(tmp_path):
    script = (
        "from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0, s.SECURE_PROXY_SSL_HEADER)"
    )
    done = manage(tmp_path, "shell", "-c", script, SECRET_KEY=secrets.token_urlsafe(60), **PRODUCTION)
    assert done.stdout.strip().splitlines()[-1] == "True True True ('HTTP_X_FORWARDED_PROTO', 'https')", done.stderr


@pytest.mark.parametrize(
    "env, refusal",
    [
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS must list host names"),
        ({"SECRET_KEY": DEV_SECRET_KEY}, "needs a SECRET_KEY of your own"),
    ],
)
def test_production_refuses_to_start_with_a_wildcard_host_or_the_development_key(tmp_path, env, refusal):
    done = manage(tmp_path, "check", **{**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(60), **env})
    assert done.returncode != 0 and refusal in done.stderr


def run_checks(deploy: bool = True) -> str:
    try:
        call_command("check", deploy=deploy)
    except SystemCheckError as exc:
        return str(exc)
    return ""


def test_the_custom_checks_refuse_a_wildcard_host_the_development_key_and_a_missing_csp(settings, db):
    settings.SECRET_KEY = secrets.token_urlsafe(60)
    assert "swarm.E" not in run_checks()  # control: the app's own settings pass Swarm's checks
    settings.ALLOWED_HOSTS = ["*"]
    settings.SECURE_CSP = {}
    settings.SECRET_KEY = DEV_SECRET_KEY
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.com"]
    found = run_checks()
    for check in ("swarm.E001", "swarm.E002", "swarm.E003", "swarm.E010"):
        assert check in found, check
    assert "swarm.E010" not in run_checks(deploy=False)  # the development key is fine on a laptop


@pytest.fixture
def own_redis(tmp_path):
    """redis-servers of this test's own, each with its own options; all stopped at the end."""
    from tests.redis_server import RedisServer

    servers = []

    def start(*args: str) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(servers)}", *args)
        servers.append(server)
        try:
            return server.start()
        except Unavailable as exc:
            unavailable(str(exc))

    yield start
    for server in servers:
        server.stop()


def _deploy_check(tmp_path, redis_url: str) -> subprocess.CompletedProcess:
    env = {**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(60), "REDIS_URL": redis_url}
    return manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **env)


def test_the_deploy_check_warns_about_a_redis_that_forgets_on_restart_or_lets_anyone_in(tmp_path, own_redis):
    bare = own_redis()  # appendonly no, no password: what tests run on
    done = _deploy_check(tmp_path, bare.url)
    assert done.returncode != 0
    assert "swarm.W020" in done.stderr and "appendonly no" in done.stderr, done.stderr
    assert "swarm.W021" in done.stderr, done.stderr

    kept = own_redis("--appendonly", "yes", "--requirepass", "s3cret-redis-pass")  # what an operator should run
    done = _deploy_check(tmp_path, f"redis://:s3cret-redis-pass@127.0.0.1:{kept.port}/0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "swarm.W02" not in done.stdout + done.stderr
    assert "s3cret-redis-pass" not in done.stdout + done.stderr  # the check names Redis without its password


def test_the_deploy_check_tolerates_a_redis_whose_config_command_is_disabled(tmp_path, own_redis):
    locked = own_redis("--rename-command", "CONFIG", "", "--requirepass", "s3cret-redis-pass")
    done = _deploy_check(tmp_path, f"redis://:s3cret-redis-pass@127.0.0.1:{locked.port}/0")
    assert done.returncode == 0, done.stdout + done.stderr  # a note, not a failure
    assert "swarm.I021" in done.stdout + done.stderr and "Traceback" not in done.stderr
