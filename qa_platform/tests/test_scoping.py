from typing import Any

import pytest

from qa_platform.roles import Role, user_role
from qa_platform.scoping import scope_to_user
from transcription.models import Recording


def recording(sha: str, agent: Any = None) -> Recording:
    return Recording.objects.create(sha256=sha * 64, size_bytes=1, audio_file="x", agent=agent)


@pytest.fixture
def calls(org: dict[str, Any]) -> dict[str, Recording]:
    return {
        "team1": recording("a", org["agent1"]),
        "team2": recording("b", org["agent2"]),
        "unassigned": recording("c"),
    }


def visible(user: Any) -> set[int]:
    qs = scope_to_user(Recording.objects.all(), user=user, agent_path="agent")
    return set(qs.values_list("id", flat=True))


def test_a_supervisor_sees_only_the_calls_of_their_teams(org: dict, calls: dict) -> None:
    assert visible(org["sup1"]) == {calls["team1"].id}
    assert visible(org["sup2"]) == {calls["team2"].id}


def test_an_agent_sees_only_their_own_calls(org: dict, calls: dict) -> None:
    assert visible(org["agent_user"]) == {calls["team1"].id}


def test_auditors_and_admins_see_everything(org: dict, calls: dict) -> None:
    everything = {c.id for c in calls.values()}
    assert visible(org["auditor"]) == everything
    assert visible(org["admin"]) == everything


def test_a_user_without_a_role_sees_nothing(org: dict, calls: dict) -> None:
    assert visible(org["nobody"]) == set()


def test_the_widest_role_wins_for_a_user_in_several_groups(org: dict, calls: dict) -> None:
    from django.contrib.auth.models import Group

    org["sup1"].groups.add(Group.objects.get(name=Role.AUDITOR.value))
    org["sup1"].refresh_from_db()
    assert user_role(org["sup1"]) is Role.AUDITOR


def test_a_supervisor_of_two_teams_gets_no_duplicate_rows(org: dict, calls: dict) -> None:
    org["team2"].supervisors.add(org["sup1"])
    qs = scope_to_user(Recording.objects.all(), user=org["sup1"], agent_path="agent")
    assert qs.count() == 2


def test_the_role_groups_exist_after_migrating(db: None) -> None:
    from django.contrib.auth.models import Group

    assert set(Group.objects.values_list("name", flat=True)) >= {r.value for r in Role}
