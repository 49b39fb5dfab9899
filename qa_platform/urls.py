from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import include, path
from django.views.i18n import set_language

from qa_platform import health
from qa_platform.roles import Role, user_role


def home(request: HttpRequest) -> HttpResponse:
    """Agents start from their own calls; everyone else from the review queue."""
    if user_role(request.user) is Role.AGENT:
        return redirect("analytics:my_calls")
    return redirect("analytics:review_queue")


urlpatterns = [
    path("", home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Choosing a language is allowed before logging in, so the login page can switch too.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("admin/", admin.site.urls),
    path("", include("transcription.urls")),
    path("api/", include("transcription.api.urls")),
    path("", include("analytics.urls")),
]

admin.site.site_header = "通话质检平台"
admin.site.site_title = "通话质检平台"
admin.site.index_title = "系统管理"
