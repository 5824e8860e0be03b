"""Setup mistakes a new user makes get one clear line naming the mistake, never a traceback: a URL without
a scheme, a refused connection, an unknown host, TLS against a plain-HTTP port, a Data Center server
configured as Cloud (and the reverse), a misspelt JIRACAMPAIGN_* variable."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from jiracampaign.cli import cli
from tests.conftest import REPO
from tests.fakes.jira_server import FakeJira

DEMO = REPO / "examples" / "demo" / "campaign.yaml"
RUN = "u_jdoe_demo_step1_20260101T000000Z"


def closed_port() -> int:
    """A loopback port nothing listens on (bound once by us, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def no_sleep(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    return waits


def jira_args(server: str, *extra: str) -> list[str]:
    return ["--tracker", "jira", "--set", f"jira.server={server}", "--set", "jira.project=CAMP",
            "--set", "jira.user=jdoe@example.org", "--set", "jira.max_retries=1", *extra]


def one_error_line(result, status: int) -> str:
    assert result.exit_code == status, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, AssertionError)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


# ---- a URL without a scheme --------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["create", str(DEMO)], ["panda", RUN]])
def test_url_without_scheme_is_a_config_error_in_create_and_panda(runner, command):
    args = jira_args("rubinobs.atlassian.net") if command[0] == "create" else ["--set", "panda.monitor_url=bigmon.example"]
    line = one_error_line(runner.invoke(cli, [*args, *command], env={"JIRACAMPAIGN_JIRA_TOKEN": "t"}), 3)
    setting, url = ("jira.server", "rubinobs.atlassian.net") if command[0] == "create" else ("panda.monitor_url", "bigmon.example")
    assert line == (f"Error: command line: {setting}: expected a URL starting with https:// or http://, got '{url}' "
                    f"(did you mean 'https://{url}'?)")
    assert not Path("campaigns").exists()


def test_url_without_scheme_in_the_file_the_environment_and_init(runner, write):
    cfg = write("c.yaml", "tracker: jira\njira:\n  project: CAMP\n  server: jira.example.org\n")
    line = one_error_line(runner.invoke(cli, ["--config", str(cfg), "config"]), 3)
    assert line.startswith(f"Error: {cfg}:4: jira.server: expected a URL starting with https:// or http://, got 'jira.example.org'")
    line = one_error_line(runner.invoke(cli, ["panda", RUN], env={"JIRACAMPAIGN_PANDA_MONITOR_URL": "ftp://bigmon"}), 3)
    assert line == ("Error: environment: JIRACAMPAIGN_PANDA_MONITOR_URL: expected a URL starting with https:// or "
                    "http://, got 'ftp://bigmon'")
    line = one_error_line(runner.invoke(cli, ["--config", str(write("i.yaml", "")), "init", "--no-input",
                                              "--server", "jira.example.org"]), 3)
    assert line.startswith("Error: command line: jira.server: expected a URL starting with https:// or http://")


# ---- which network fault -----------------------------------------------------------------------------

def test_jira_refused_unknown_host_and_tls_on_a_plain_port_each_say_which(runner, no_sleep):
    fake = FakeJira("datacenter").start()
    try:
        env = {"JIRACAMPAIGN_JIRA_TOKEN": fake.token}
        port = closed_port()
        line = one_error_line(runner.invoke(cli, [*jira_args(f"http://127.0.0.1:{port}"), "create", str(DEMO)], env=env), 5)
        assert line == (f"Error: JIRA connect at http://127.0.0.1:{port} failed after 2 attempts: connection refused by "
                        f"127.0.0.1:{port}: nothing listens on that port (check the host and port in jira.server)")
        line = one_error_line(runner.invoke(cli, [*jira_args("https://nonexistent.invalid"), "create", str(DEMO)], env=env), 5)
        assert line == ("Error: JIRA connect at https://nonexistent.invalid failed after 2 attempts: unknown host "
                        "nonexistent.invalid: the name does not resolve (check jira.server for a typo, or your DNS or VPN)")
        https = fake.url.replace("http://", "https://")
        before = len(fake.log)
        line = one_error_line(runner.invoke(cli, [*jira_args(https), "create", str(DEMO)], env=env), 5)
        hostport = https.split("//")[1]
        assert line == (f"Error: JIRA connect at {https} failed after 1 attempt: TLS handshake failed: {hostport} does not "
                        "speak TLS (an https:// URL for a plain-HTTP port? check the scheme and port in jira.server)")
        assert len(fake.log) == before  # nothing reached JIRA as a request
        assert not Path("campaigns").exists()
    finally:
        fake.stop()


def test_lost_connection_is_still_called_lost(runner, no_sleep):
    fake = FakeJira("datacenter").start()
    try:
        fake.inject("GET", r"/serverInfo$", "lost", times=5)
        line = one_error_line(runner.invoke(cli, [*jira_args(fake.url), "create", str(DEMO)],
                                            env={"JIRACAMPAIGN_JIRA_TOKEN": fake.token}), 5)
        hostport = fake.url.split("//")[1]
        assert line == (f"Error: JIRA connect at {fake.url} failed after 2 attempts: lost the connection to {hostport} "
                        "before an answer came")
    finally:
        fake.stop()


def test_panda_refused_unknown_host_and_tls_on_a_plain_port_each_say_which(runner, fake_panda):
    port = closed_port()
    cases = [
        (f"http://127.0.0.1:{port}", f"connection refused by 127.0.0.1:{port}: nothing listens on that port "
                                     "(check the host and port in panda.monitor_url)"),
        ("http://nonexistent.invalid", "unknown host nonexistent.invalid: the name does not resolve "
                                       "(check panda.monitor_url for a typo, or your DNS or VPN)"),
        (fake_panda.url.replace("http://", "https://"),
         f"TLS handshake failed: {fake_panda.url.split('//')[1]} does not speak TLS (an https:// URL for a plain-HTTP "
         "port? check the scheme and port in panda.monitor_url)"),
    ]
    for url, phrase in cases:
        result = runner.invoke(cli, ["--set", f"panda.monitor_url={url}", "--set", "panda.max_retries=0", "panda", RUN])
        line = one_error_line(result, 6)
        assert line == f"Error: PanDA monitor GET /idds/wfprogress/ at {url} failed after 1 attempt: {phrase}"


def test_tls_on_a_plain_port_is_not_retried(runner, fake_panda):
    url = fake_panda.url.replace("http://", "https://")
    result = runner.invoke(cli, ["--set", f"panda.monitor_url={url}", "--set", "panda.max_retries=3", "panda", RUN])
    assert "failed after 1 attempt: TLS handshake failed" in one_error_line(result, 6)


def test_init_names_the_fault_too(runner, tmp_path):
    port = closed_port()
    result = runner.invoke(cli, ["--config", str(tmp_path / "c.yaml"), "init", "--no-input",
                                 "--server", f"http://127.0.0.1:{port}"])
    assert one_error_line(result, 5) == (
        f"Error: cannot reach JIRA at http://127.0.0.1:{port}: connection refused by 127.0.0.1:{port}: nothing listens "
        "on that port (check the host and port in --server)")


# ---- flavour and authentication mismatches -------------------------------------------------------------

@pytest.mark.parametrize("flavour, settings, status, expected", [
    # a Data Center server configured as Cloud, the way a Cloud user would write it
    ("datacenter", {"jira.flavour": "cloud", "jira.auth": "basic"}, 4,
     "{url} is JIRA Data Center but jira.flavour is 'cloud' (HTTP 401 POST /rest/api/2/search/jql): set jira.flavour "
     "to 'datacenter' or 'auto', and jira.auth: Data Center takes a personal access token sent as Bearer "
     "(jira.auth: token; Data Center 11 refuses basic authentication by default); 'jiracampaign init' finds both"),
    # ... with the right token but the Cloud flavour: the Cloud search answers "404 null for uri" on DC
    ("datacenter", {"jira.flavour": "cloud", "jira.auth": "token"}, 4,
     "{url} is JIRA Data Center but jira.flavour is 'cloud' (HTTP 404 POST /rest/api/2/search/jql: null for uri: "
     "/rest/api/2/search/jql): set jira.flavour to 'datacenter' or 'auto'; 'jiracampaign init' finds both"),
    # flavour asked of the server, but the default basic authentication against Data Center
    ("datacenter", {"jira.auth": "basic"}, 4,
     "JIRA Data Center at {url} refused jira.auth 'basic' (HTTP 401 GET /rest/api/2/search): Data Center takes a "
     "personal access token sent as Bearer (jira.auth: token; Data Center 11 refuses basic authentication by "
     "default); 'jiracampaign init' sets it"),
    # Cloud with a Bearer token: its gateway answers 403 "Failed to parse Connect Session Auth Token"
    ("cloud", {"jira.auth": "token"}, 4,
     "JIRA Cloud at {url} refused jira.auth 'token' (HTTP 403 POST /rest/api/2/search/jql: Failed to parse Connect "
     "Session Auth Token): Cloud takes your account e-mail (jira.user) and an API token (jira.auth: basic); "
     "'jiracampaign init' sets it"),
    # Cloud configured as Data Center: the old search answers 410
    ("cloud", {"jira.flavour": "datacenter", "jira.auth": "basic"}, 4,
     "{url} is JIRA Cloud but jira.flavour is 'datacenter' (HTTP 410 GET /rest/api/2/search: The requested API has "
     "been removed."),
])
def test_flavour_or_auth_mismatch_is_named(runner, flavour, settings, status, expected):
    fake = FakeJira(flavour).start()
    try:
        sets = [x for name, value in settings.items() for x in ("--set", f"{name}={value}")]
        result = runner.invoke(cli, [*jira_args(fake.url, *sets), "create", str(DEMO)],
                               env={"JIRACAMPAIGN_JIRA_TOKEN": fake.token})
        line = one_error_line(result, status)
        assert line.startswith("Error: " + expected.format(url=fake.url))
        assert fake.token not in result.output
        assert not fake.issues and not Path("campaigns").exists()
    finally:
        fake.stop()


def test_a_wrong_token_with_the_right_setup_still_reads_rejected_credentials(runner):
    for flavour in ("cloud", "datacenter"):
        fake = FakeJira(flavour).start()
        try:
            auth = "basic" if flavour == "cloud" else "token"
            result = runner.invoke(cli, [*jira_args(fake.url, "--set", f"jira.auth={auth}"), "create", str(DEMO)],
                                   env={"JIRACAMPAIGN_JIRA_TOKEN": "not-the-token"})
            assert one_error_line(result, 4).startswith("Error: JIRA rejected the credentials of jdoe@example.org")
            assert "not-the-token" not in result.output
        finally:
            fake.stop()
