from django.urls import path

from transcription.views import pipeline, sources, uploads

app_name = "transcription"
urlpatterns = [
    path("recordings/upload/", uploads.upload, name="upload"),
    path("pipeline/", pipeline.pipeline_status, name="pipeline"),
    path("pipeline/recordings/<int:recording_id>/retry/", pipeline.recording_retry_view,
         name="recording_retry"),
    path("pipeline/files/<int:file_id>/retry/", pipeline.source_file_retry_view,
         name="source_file_retry"),
    path("pipeline/sources/<int:source_id>/pull/", pipeline.source_pull_now, name="source_pull"),
    path("settings/sources/", sources.source_list, name="sources"),
    path("settings/sources/new/", sources.source_edit, name="source_new"),
    path("settings/sources/<int:source_id>/", sources.source_edit, name="source_edit"),
    path("settings/hotwords/", sources.hotwords_retranscribe, name="hotwords"),
]
