"""The demo organisation: teams, agents and users from fixtures/demo_org.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import transaction

from qa_platform.models import Agent, Team
from qa_platform.roles import Role

DEMO_ORG = Path(settings.BASE_DIR) / "fixtures" / "demo_org.json"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str
    full_name: str


@transaction.atomic
def demo_org_load(*, path: Path = DEMO_ORG) -> list[DemoLogin]:
    """Create or refresh the demo users, teams and agents; returns the logins to print."""
    data = json.loads(path.read_text(encoding="utf-8"))
    logins = []
    users: dict[str, User] = {}
    for entry in data["users"]:
        role = Role(entry["role"])
        user, _ = User.objects.get_or_create(username=entry["username"])
        user.first_name = entry["full_name"]
        user.is_staff = role is Role.ADMIN
        user.is_superuser = role is Role.ADMIN
        user.set_password(entry["password"])
        user.save()
        user.groups.set([Group.objects.get_or_create(name=role.value)[0]])
        users[user.username] = user
        logins.append(DemoLogin(user.username, entry["password"], role.value, entry["full_name"]))
    for entry in data["teams"]:
        team, _ = Team.objects.get_or_create(name=entry["name"])
        team.supervisors.set([users[name] for name in entry["supervisors"]])
    for entry in data["agents"]:
        Agent.objects.update_or_create(
            code=entry["code"],
            defaults={
                "name": entry["name"],
                "team": Team.objects.get(name=entry["team"]),
                "user": users.get(entry.get("user", "")),
            },
        )
    return logins
