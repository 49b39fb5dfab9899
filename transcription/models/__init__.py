from transcription.models.hotwords import Hotword
from transcription.models.recordings import Recording, Tombstone
from transcription.models.sources import IngestRun, RecordingSource, SourceFile
from transcription.models.transcripts import Segment, Transcript

__all__ = [
    "Hotword",
    "IngestRun",
    "Recording",
    "RecordingSource",
    "Segment",
    "SourceFile",
    "Tombstone",
    "Transcript",
]
