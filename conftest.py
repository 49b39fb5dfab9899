"""Fixtures shared by every app's tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User

from qa_platform.models import Agent, Team
from qa_platform.roles import Role
from transcription.demo_sftp import LocalSftpServer
from transcription.models import RecordingSource

REPO = Path(__file__).resolve().parent
DEMO_CALLS = REPO / "fixtures" / "demo_calls"
SFTP_PASSWORD_ENV = "QA_TEST_SFTP_PASSWORD"
# The labelled calls live beside the checkout (../shared/eval/dev), in CI too.
EVAL_DEV_DIR = Path(os.environ.get("QA_EVAL_DEV_DIR", REPO.parent / "shared" / "eval" / "dev"))


@pytest.fixture(autouse=True)
def default_language() -> Iterator[None]:
    """A test that switches the UI to English must not leave the next test in English."""
    from django.utils import translation

    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Test users need no key stretching; production keeps Django's default hashers."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def data_dir(settings: Any, tmp_path: Path) -> Path:
    """Every test gets its own QA_DATA_DIR, so no test sees another's files."""
    path = tmp_path / "data"
    path.mkdir()
    settings.QA_DATA_DIR = path
    return path


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    def make(username: str, role: Role | None, **extra: Any) -> User:
        user = User.objects.create_user(username=username, password="pw-for-tests-1", **extra)
        if role is not None:
            user.groups.add(Group.objects.get_or_create(name=role.value)[0])
        return user

    return make


@pytest.fixture
def org(make_user: Callable[..., User]) -> dict[str, Any]:
    """Two teams, one supervisor each, two agents (one with a login), an auditor, an admin."""
    sup1 = make_user("sup1", Role.SUPERVISOR)
    sup2 = make_user("sup2", Role.SUPERVISOR)
    team1 = Team.objects.create(name="一组")
    team2 = Team.objects.create(name="二组")
    team1.supervisors.add(sup1)
    team2.supervisors.add(sup2)
    agent_user = make_user("a1", Role.AGENT)
    return {
        "sup1": sup1,
        "sup2": sup2,
        "team1": team1,
        "team2": team2,
        "agent_user": agent_user,
        "agent1": Agent.objects.create(code="A1", name="王敏", team=team1, user=agent_user),
        "agent2": Agent.objects.create(code="A2", name="张伟", team=team2),
        "auditor": make_user("audit", Role.AUDITOR),
        "admin": make_user("boss", Role.ADMIN),
        "nobody": make_user("nobody", None),
    }


@pytest.fixture
def remote_dir(tmp_path: Path) -> Path:
    path = tmp_path / "remote"
    path.mkdir()
    return path


@pytest.fixture
def copy_call(remote_dir: Path) -> Callable[..., Path]:
    """Put a demo call (audio and, unless told otherwise, its sidecar) on the SFTP server."""

    def copy(stem: str, *, sidecar: bool = True, as_name: str | None = None) -> Path:
        target = remote_dir / f"{as_name or stem}.mp3"
        shutil.copy(DEMO_CALLS / f"{stem}.mp3", target)
        if sidecar:
            shutil.copy(DEMO_CALLS / f"{stem}.json", target.with_suffix(".json"))
        return target

    return copy


@pytest.fixture
def sftp_server(remote_dir: Path, tmp_path: Path, monkeypatch: Any) -> Iterator[LocalSftpServer]:
    monkeypatch.setenv(SFTP_PASSWORD_ENV, "pull-test-password")
    server = LocalSftpServer(remote_dir, username="recorder", password="pull-test-password",
                             host_key_path=tmp_path / "host_key")
    with server:
        yield server


@pytest.fixture
def source(db: None, sftp_server: LocalSftpServer) -> RecordingSource:
    return RecordingSource.objects.create(
        name="呼叫中心录音服务器",
        host="127.0.0.1",
        port=sftp_server.port,
        username="recorder",
        password_ref=f"env:{SFTP_PASSWORD_ENV}",
        host_key_fingerprint=sftp_server.host_key_fingerprint,
        remote_dir="/",
        stable_seconds=0,
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say in the log which database and broker this run exercises."""
    import os

    from django.conf import settings as django_settings

    engine = django_settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    redis = os.environ.get("TEST_REDIS_URL")
    return [
        f"qa-platform: database={engine}, "
        f"worker end-to-end test={'on ' + redis if redis else 'skipped (no TEST_REDIS_URL)'}"
    ]
