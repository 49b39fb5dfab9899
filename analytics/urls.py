from django.urls import path

from analytics import views

app_name = "analytics"
urlpatterns = [
    path("calls/review/", views.review_queue, name="review_queue"),
    path("calls/<int:recording_id>/", views.call_detail, name="call_detail"),
]
