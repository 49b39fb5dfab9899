from __future__ import annotations

from django.http import HttpRequest

from analytics.keyword_search import SEARCH_ROLES
from analytics.selectors import RULE_VIEW_ROLES
from qa_platform.roles import ROLE_LABELS, Role, user_role
from transcription.selectors import PIPELINE_ROLES, UPLOAD_ROLES


def navigation(request: HttpRequest) -> dict[str, object]:
    role = user_role(request.user) if hasattr(request, "user") else None
    return {
        "qa_role": role,
        "qa_role_label": ROLE_LABELS[role] if role is not None else "",
        "qa_is_admin": role is Role.ADMIN,
        "qa_is_agent": role is Role.AGENT,
        "qa_can_upload": role in UPLOAD_ROLES,
        "qa_can_view_pipeline": role in PIPELINE_ROLES,
        "qa_can_view_rules": role in RULE_VIEW_ROLES,
        "qa_can_search": role in SEARCH_ROLES,
    }
