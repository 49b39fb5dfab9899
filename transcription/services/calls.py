"""Applying call facts (who, when, which number) to a recording."""

from __future__ import annotations

from qa_platform.models import Agent, Team
from transcription.asr.base import CallMetadata
from transcription.call_metadata import parse_started_at
from transcription.models import Recording


def call_metadata_apply(recording: Recording, metadata: CallMetadata) -> None:
    """Set the facts `metadata` knows on `recording` (unsaved); empty fields change nothing."""
    if metadata.call_id:
        recording.call_id = metadata.call_id[:100]
    if metadata.customer_phone:
        recording.customer_phone = metadata.customer_phone[:50]
    if metadata.direction:
        recording.direction = metadata.direction[:20]
    if metadata.queue:
        recording.queue = metadata.queue[:100]
    if metadata.started_at:
        recording.started_at = parse_started_at(metadata.started_at) or recording.started_at
    if metadata.agent_id:
        recording.agent = agent_for_code(
            metadata.agent_id, name=metadata.agent_name, team_name=metadata.team
        )


def agent_for_code(code: str, *, name: str = "", team_name: str = "") -> Agent:
    """The agent with this 工号, created on first sight; known agents keep their team."""
    team = Team.objects.get_or_create(name=team_name[:100])[0] if team_name else None
    agent, created = Agent.objects.get_or_create(
        code=code[:50], defaults={"name": name[:100], "team": team}
    )
    if not created and ((not agent.team_id and team) or (not agent.name and name)):
        agent.team = agent.team or team
        agent.name = agent.name or name[:100]
        agent.save(update_fields=["team", "name", "updated_at"])
    return agent
