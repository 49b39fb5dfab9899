"""Fixtures shared by every app's tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User

from qa_platform.models import Agent, Team
from qa_platform.roles import Role

REPO = Path(__file__).resolve().parent
DEMO_CALLS = REPO / "fixtures" / "demo_calls"


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
            user.groups.add(Group.objects.get(name=role.value))
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
