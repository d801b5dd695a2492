"""Which clone URLs and credentials the operator's settings let a team member use (agents/remotes.py), and what git is
given to reach them: no git, no server; the real clones are tests/test_repo_clone.py's."""

from __future__ import annotations

import pytest

from agents import remotes
from agents.models import Repository
from agents.setup_forms import RepositoryForm
from swarm_web.env import env_git_credentials

SECRET = "ghp_" + "5e1f0a9b3c" * 4


@pytest.fixture
def operator(settings, monkeypatch):
    settings.SWARM_GIT_HOSTS = ["github.com", "git.internal:2222", "127.0.0.1:*"]
    monkeypatch.setenv("SWARM_GIT_CREDENTIALS", "gh=token:GH_TOKEN@github.com,deploy=ssh:/etc/swarm/key$HOME")
    monkeypatch.setenv("GH_TOKEN", SECRET)
    settings.SWARM_GIT_CREDENTIALS = env_git_credentials("SWARM_GIT_CREDENTIALS")
    settings.SWARM_GIT_KNOWN_HOSTS = "/etc/swarm/known_hosts"
    return settings


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port"),
    [
        ("https://github.com/acme/app.git", "https", "github.com", 443),
        ("git@github.com:acme/app.git", "ssh", "github.com", 22),
        ("ssh://git@git.internal:2222/acme/app.git", "ssh", "git.internal", 2222),
        ("git://127.0.0.1:9418/app.git", "git", "127.0.0.1", 9418),
        ("http://127.0.0.1:8080/app.git", "http", "127.0.0.1", 8080),
    ],
)
def test_urls_on_the_operators_hosts_are_taken_as_written(operator, url, scheme, host, port):
    assert remotes.parse(url) == remotes.Remote(url, scheme, host, port)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://gitlab.com/acme/app.git", "gitlab.com:443, which is not a host the operator allows"),
        ("ssh://git@git.internal/acme/app.git", "git.internal:22, which is not a host"),  # only :2222 is listed
        ("git@2130706433:app.git", "IPv4 address in its usual form"),  # 127.0.0.1 in disguise
        ("file:///srv/app", "file:// URLs"),
        ("ext::ssh -o ProxyCommand=x github.com", "without spaces"),
        ("fd::17", "remote helpers"),
        ("-oProxyCommand=touch@github.com:x", "user name that is not letters"),
        ("https://github.com/acme/app.git?x=1", "query or a fragment"),
        ("https://" + SECRET + "@github.com/acme/app.git", "must not contain a user name, password or token"),
        ("git://127.0.0.1:99999/app.git", "port"),
    ],
)
def test_other_urls_are_refused_without_repeating_a_secret(operator, url, says):
    with pytest.raises(remotes.Refused) as refused:
        remotes.parse(url)
    assert says in refused.value.message and SECRET not in refused.value.message


def test_a_token_goes_as_a_header_only_to_its_host_and_a_key_only_over_ssh(operator):
    via = remotes.access(remotes.parse("https://github.com/acme/app.git"), "gh")
    config = dict(via.transport)
    assert config["protocol.https.allow"] == "always" and config["http.followRedirects"] == "false"
    assert config["http.extraHeader"].startswith("Authorization: Basic ") and "protocol.ssh.allow" not in config
    assert SECRET in via.secrets and not via.env
    assert remotes.scrub(f"fatal: {SECRET} https://u:{SECRET}@github.com/x", via.secrets).count("***") == 2

    with pytest.raises(remotes.RemoteFailed, match="lent to github.com only"):
        remotes.access(remotes.parse("http://127.0.0.1:8080/app.git"), "gh")
    operator.SWARM_GIT_HOSTS.append("git.example.com:*")
    operator.SWARM_GIT_CREDENTIALS["gh"]["hosts"].append("git.example.com:*")
    with pytest.raises(remotes.Refused, match="only an https:// URL"):  # never in clear text past this machine
        remotes.check_credential("gh", remotes.parse("http://git.example.com/app.git"))
    with pytest.raises(remotes.Refused, match="only an ssh:// or user@host:path URL"):
        remotes.check_credential("deploy", remotes.parse("https://github.com/acme/app.git"))

    ssh = remotes.access(remotes.parse("git@github.com:acme/app.git"), "deploy")
    assert dict(ssh.transport)["protocol.ssh.allow"] == "always" and not ssh.secrets
    command = ssh.env["GIT_SSH_COMMAND"]
    assert "-F /dev/null" in command and "-i '/etc/swarm/key$HOME'" in command  # quoted: git runs it with sh
    assert "IdentitiesOnly=yes" in command and "StrictHostKeyChecking=yes" in command
    assert "UserKnownHostsFile=/etc/swarm/known_hosts" in command
    anonymous = remotes.access(remotes.parse("git@github.com:acme/app.git"), "")
    assert "IdentityFile=none" in anonymous.env["GIT_SSH_COMMAND"]  # never the server's own keys


def test_the_form_offers_the_credentials_by_name_never_their_secrets_or_variables(operator):
    offered = " ".join(label for _, label in remotes.credential_choices())
    assert "gh (token, for https, only github.com)" in offered and "deploy (ssh key, for ssh)" in offered
    assert SECRET not in offered and "GH_TOKEN" not in offered and "/etc/swarm" not in offered


def test_a_malformed_credentials_setting_stops_the_server_with_the_entry_named(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    monkeypatch.setenv("SWARM_GIT_CREDENTIALS", f"gh=token:{SECRET}")
    with pytest.raises(ImproperlyConfigured) as refused:
        env_git_credentials("SWARM_GIT_CREDENTIALS")
    assert "'gh' is not one" in str(refused.value) and SECRET not in str(refused.value)


def test_workers_with_disks_of_their_own_refuse_clone_urls_with_the_way_round(operator, team):
    operator.SWARM_WORKER_DISK = "local"  # the clone job could land on a worker's disk, never seen by the web
    form = RepositoryForm(
        {"name": "app", "source": "url", "url": "https://github.com/acme/app.git"}, instance=Repository(team=team)
    )
    assert not form.is_valid()
    assert "SWARM_WORKER_DISK=local" in form.errors["url"][0] and "add it by its path" in form.errors["url"][0]
