from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TranscriptionConfig(AppConfig):
    name = "transcription"
    verbose_name = _("录音与转写")

    def ready(self) -> None:
        from transcription import signals  # noqa: F401  (worker_process_init hook)
