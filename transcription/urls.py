from django.urls import path

from transcription import views

app_name = "transcription"
urlpatterns = [
    path("recordings/upload/", views.upload, name="upload"),
]
