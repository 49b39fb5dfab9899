"""Hotwords: product names, 工号 and jargon the recogniser should favour."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from qa_platform.models import TimeStampedModel

# Alibaba Cloud SCA's limits, which our users' lists are already written for.
MAX_HOTWORDS_PER_LIST = 500
MAX_HOTWORD_CHARS = 15


class Hotword(TimeStampedModel):
    # Null: the global list, used for every source.
    source = models.ForeignKey("transcription.RecordingSource", verbose_name=_("来源"),
                               related_name="hotwords", on_delete=models.CASCADE,
                               null=True, blank=True, help_text=_("留空表示全局热词"))
    word = models.CharField(_("热词"), max_length=MAX_HOTWORD_CHARS)

    class Meta:
        verbose_name = _("热词")
        verbose_name_plural = _("热词")
        ordering = ["source_id", "word"]
        constraints = [
            models.UniqueConstraint(fields=["source", "word"], name="hotword_unique_per_list",
                                    nulls_distinct=False),
        ]

    def __str__(self) -> str:
        return self.word

    def clean(self) -> None:
        self.word = self.word.strip()
        if not self.word:
            raise ValidationError({"word": _("热词不能为空")})
        if any(ch.isspace() for ch in self.word):
            # FunASR takes hotwords as one space-separated string.
            raise ValidationError({"word": _("热词不能包含空格")})
        siblings = Hotword.objects.filter(source=self.source).exclude(pk=self.pk)
        if siblings.filter(word=self.word).exists():
            raise ValidationError({"word": _("该热词表中已有这个词")})
        if siblings.count() >= MAX_HOTWORDS_PER_LIST:
            raise ValidationError(
                _("每个热词表最多 %(n)d 个") % {"n": MAX_HOTWORDS_PER_LIST}
            )
