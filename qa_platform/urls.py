from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from qa_platform import health

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="analytics:review_queue"), name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("", include("analytics.urls")),
]

admin.site.site_header = "通话质检平台"
admin.site.site_title = "通话质检平台"
admin.site.index_title = "系统管理"
