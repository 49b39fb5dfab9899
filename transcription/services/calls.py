"""Applying call facts (who, when, which number) to a recording."""

from __future__ import annotations

from django.conf import settings

from qa_platform.models import Agent, Team
from transcription.asr.base import CallMetadata
from transcription.call_metadata import parse_started_at
from transcription.models import Recording


def call_metadata_apply(recording: Recording, metadata: CallMetadata) -> None:
    """Set the facts `metadata` knows on `recording` (unsaved); empty fields change nothing."""
    if metadata.call_id:
        recording.call_id = metadata.call_id[:100]
    if metadata.customer_phone:
        phone = metadata.customer_phone[:50]
        recording.customer_phone = masked_phone(phone) if settings.PII_REDACTION else phone
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


def masked_phone(phone: str) -> str:
    """A customer number as contact centers print it: 138****5678 (first 3 and last 4 digits;
    a short number keeps only its last 4). Never stored whole while PII_REDACTION is on."""
    digits = [i for i, ch in enumerate(phone) if ch.isdigit()]
    if len(digits) <= 4:
        return phone
    hidden = set(digits[3:-4] if len(digits) >= 11 else digits[:-4])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(phone))


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
