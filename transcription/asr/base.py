"""The engine protocol every transcription engine implements, and its typed results.

An engine is set up once per worker process and then called for many recordings;
it receives a plain request (paths and settings, no ORM objects) and returns a
`TranscriptionResult`. Engines never touch the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

ROLE_AGENT = "agent"
ROLE_CUSTOMER = "customer"
ROLE_UNKNOWN = "unknown"
ROLES = (ROLE_AGENT, ROLE_CUSTOMER, ROLE_UNKNOWN)


class TranscriptionError(Exception):
    """The recording cannot be transcribed; the message is shown to users as the reason."""


@dataclass(frozen=True)
class TranscriptionRequest:
    audio_path: Path
    # The transcript sidecar stored next to the audio, if the source delivered one.
    sidecar_path: Path | None = None
    # Role of each audio channel, in channel order: ("agent", "customer") for a
    # stereo recording whose left channel is the agent; ("unknown",) for mono.
    channel_roles: tuple[str, ...] = (ROLE_AGENT, ROLE_CUSTOMER)
    hotwords: tuple[str, ...] = ()
    language: str = "zh"
    # Channel count when registration already probed the file (saves a second ffprobe).
    channels: int | None = None


@dataclass(frozen=True)
class SegmentResult:
    role: str
    start_ms: int
    end_ms: int
    # What the recogniser produced, before punctuation and normalisation.
    raw_text: str
    # What users see: punctuated and normalised.
    text: str
    # Lower-case emotion the model reported (e.g. "angry"); "" when it reports none.
    emotion: str = ""
    # Absolute (start_ms, end_ms) per character of raw_text, when the model gives
    # token timestamps; () otherwise. Whitespace gets a zero-length span.
    char_timestamps: tuple[tuple[int, int], ...] = ()
    # Language code the model detected for this segment (e.g. "zh"); "" if not reported.
    language: str = ""


@dataclass(frozen=True)
class CallMetadata:
    """Call facts an engine may learn along the way (the sidecar importer reads them)."""

    call_id: str = ""
    agent_id: str = ""
    agent_name: str = ""
    team: str = ""
    customer_phone: str = ""
    direction: str = ""
    started_at: str = ""  # ISO 8601 with offset
    queue: str = ""


@dataclass(frozen=True)
class TranscriptionResult:
    engine: str
    model_version: str
    language: str
    duration_ms: int
    segments: list[SegmentResult]
    metadata: CallMetadata = field(default_factory=CallMetadata)
    # Seconds spent per phase, e.g. {"decode": 0.4, "vad": 0.1, "asr": 2.3}.
    timings: dict[str, float] = field(default_factory=dict)
    # Hotwords the engine could not use, reported instead of silently dropped.
    ignored_hotwords: tuple[str, ...] = ()


class AsrEngine(Protocol):
    name: str

    def transcribe(self, request: TranscriptionRequest) -> TranscriptionResult:
        """Transcribe one recording or raise TranscriptionError with a reason."""
        ...
