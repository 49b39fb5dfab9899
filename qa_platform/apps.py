from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QaPlatformConfig(AppConfig):
    name = "qa_platform"
    verbose_name = _("组织与权限")

    def ready(self) -> None:
        from qa_platform import checks, heartbeats  # noqa: F401  (registers checks and signals)
