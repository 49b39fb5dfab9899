from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from transcription.models import Recording, RecordingSource

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = StringIO()
    call_command("pull_recordings", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_dry_run_lists_what_would_be_taken_and_takes_nothing(
    source: RecordingSource, copy_call: Callable[..., Path]
) -> None:
    copy_call("call_01_annual_fee_refund")
    out = run("--dry-run", "--source", source.name)
    assert "将拉取 1" in out and "call_01_annual_fee_refund.mp3" in out
    assert Recording.objects.count() == 0
    assert source.files.count() == 0


def test_a_pull_prints_a_summary(source: RecordingSource,
                                 copy_call: Callable[..., Path]) -> None:
    copy_call("call_01_annual_fee_refund")
    out = run("--source", source.name)
    assert "成功" in out and "下载 1" in out
    assert Recording.objects.count() == 1


def test_an_unreachable_source_fails_the_command_with_its_reason(
    source: RecordingSource
) -> None:
    source.port = 1
    source.save()
    with pytest.raises(CommandError):
        run("--source", source.name)


def test_an_unknown_source_name_is_an_error(db: None) -> None:
    with pytest.raises(CommandError, match="没有名为"):
        run("--source", "nope")
