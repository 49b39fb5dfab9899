"""The recordings API: upload one recording, read one back."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from qa_platform.i18n import localized
from transcription.models import Recording
from transcription.selectors import recording_get_visible, user_may_upload
from transcription.services.registration import Registration, TombstonedError
from transcription.services.uploads import (
    SIDECAR_MAX_BYTES,
    SidecarInvalid,
    UploadLimitHandler,
    UploadTooLarge,
    recording_upload,
)


class MayUpload(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return user_may_upload(user=request.user)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request entity too large."
    default_code = "too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = "conflict"


class RecordingUploadApi(APIView):
    permission_classes = [IsAuthenticated, MayUpload]
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField()
        sidecar = serializers.FileField(required=False)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(source="recording.id")
        sha256 = serializers.CharField(source="recording.sha256")
        status = serializers.CharField(source="recording.status")
        created = serializers.BooleanField()
        error = serializers.SerializerMethodField()

        def get_error(self, registration: Registration) -> str:
            return localized(registration.recording.error)

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        # Installed before anything reads the body, so an oversized part never reaches disk.
        self.upload_limit = UploadLimitHandler(
            request, limits={"file": settings.UPLOAD_MAX_BYTES, "sidecar": SIDECAR_MAX_BYTES}
        )
        request.upload_handlers.insert(0, self.upload_limit)
        return super().initialize_request(request, *args, **kwargs)

    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        refused = [error for errors in self.upload_limit.refused.values() for error in errors]
        if refused:
            raise PayloadTooLarge(str(refused[0]))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            registration = recording_upload(
                file=data["file"], sidecar=data.get("sidecar"), user=request.user
            )
        except UploadTooLarge as exc:
            raise PayloadTooLarge(str(exc)) from None
        except SidecarInvalid as exc:
            raise exceptions.ValidationError({"sidecar": [str(exc)]}) from None
        except TombstonedError as exc:
            raise Conflict(localized(exc)) from None
        return Response(
            self.OutputSerializer(registration).data,
            status=status.HTTP_201_CREATED if registration.created else status.HTTP_200_OK,
        )


class RecordingDetailApi(APIView):
    class OutputSerializer(serializers.ModelSerializer):
        # Stored in Chinese; given in the language the request asks for.
        error = serializers.SerializerMethodField()

        class Meta:
            model = Recording
            fields = [
                "id",
                "sha256",
                "status",
                "error",
                "call_id",
                "original_name",
                "duration_ms",
                "created_at",
            ]

        def get_error(self, recording: Recording) -> str:
            return localized(recording.error)

    def get(self, request: Request, recording_id: int) -> Response:
        try:
            recording = recording_get_visible(user=request.user, recording_id=recording_id)
        except Recording.DoesNotExist:
            # 404, not 403: a recording outside the user's scope must not reveal that it exists.
            raise exceptions.NotFound from None
        return Response(self.OutputSerializer(recording).data)
