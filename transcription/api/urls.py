from django.contrib.auth.decorators import login_not_required
from django.urls import path

from transcription.api import views

# DRF authenticates API requests itself: a client without a session gets 401/403, not a
# redirect to the login page.
app_name = "transcription_api"
urlpatterns = [
    path("recordings/", login_not_required(views.RecordingUploadApi.as_view()),
         name="recording_upload"),
    path("recordings/<int:recording_id>/", login_not_required(views.RecordingDetailApi.as_view()),
         name="recording_detail"),
]
