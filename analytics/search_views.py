"""The keyword audit page (关键词稽核): search, export (CSV, XLSX) and saved searches."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable
from typing import IO, Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from analytics import keyword_search as ks
from analytics.models import SavedSearch
from analytics.services import saved_searches
from qa_platform.audit import audit_record
from qa_platform.scoping import agents_visible, teams_visible
from transcription.models import Segment

PAGE_SIZE = 50
EXPORT_FORMATS = ("csv", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _require_search_role(request: HttpRequest) -> None:
    if not ks.search_allowed(user=request.user):
        raise PermissionDenied


@require_GET
def keyword_search(request: HttpRequest) -> HttpResponse | FileResponse:
    _require_search_role(request)
    parsed = ks.search_parse(request.GET, user=request.user)
    query = parsed.query
    export_format = request.GET.get("format", "")
    if export_format and export_format not in EXPORT_FORMATS:
        parsed.notices.append(_("导出格式无效，已忽略"))
    elif export_format and parsed.runnable:
        return _export(request, query, export_format)

    context: dict[str, Any] = {
        "parsed": parsed, "query": query, "min_length": ks.MIN_TERM_LENGTH,
        "cap": ks.EXPORT_ROW_CAP, "roles": Segment.Role.choices,
        "sentiments": [("negative", _("负面")), ("neutral", _("中性")), ("positive", _("正面"))],
        "teams": teams_visible(user=request.user).order_by("name"),
        "agents": agents_visible(user=request.user).select_related("team").order_by("code"),
        "rules": ks.rules_for_filter(),
        "saved": [{"saved": s, "url": _search_url(s.query)}
                  for s in ks.saved_searches(user=request.user)],
        "querystring": urlencode(query.params()),
    }  # fmt: skip
    if parsed.runnable:
        page = Paginator(ks.search_results(query, user=request.user), PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        context["page"] = page
        context["results"] = [{"row": row, "snippet": ks.snippet(row, query.terms)}
                              for row in ks.search_rows(page.object_list)]  # fmt: skip
        # The results show transcript text: who searched for what is on the record.
        audit_record(user=request.user, action="search.run", object_type="keyword_search",
                     details={"query": query.params(), "page": page.number,
                              "results": page.paginator.count})  # fmt: skip
    return render(request, "analytics/search.html", context)


def _search_url(params: dict[str, Any]) -> str:
    return f"{reverse('analytics:keyword_search')}?{urlencode(params)}"


@require_POST
def saved_search_create(request: HttpRequest) -> HttpResponse:
    _require_search_role(request)
    parsed = ks.search_parse(request.POST, user=request.user)
    if parsed.runnable:
        try:
            saved_searches.saved_search_create(owner=request.user,
                                               name=request.POST.get("name", ""),
                                               query=parsed.query)  # fmt: skip
            messages.success(request, _("已保存搜索"))
        except saved_searches.SavedSearchError as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, _("请至少输入 %(n)d 个字再保存") % {"n": ks.MIN_TERM_LENGTH})
    return redirect(_search_url(parsed.query.params()))


@require_POST
def saved_search_delete(request: HttpRequest, saved_search_id: int) -> HttpResponse:
    _require_search_role(request)
    try:
        saved_searches.saved_search_delete(user=request.user,
                                           saved_search_id=saved_search_id)  # fmt: skip
    except SavedSearch.DoesNotExist:
        raise Http404 from None
    messages.success(request, _("已删除保存的搜索"))
    return redirect("analytics:keyword_search")


# -- export ----------------------------------------------------------------------------------

COLUMNS = (gettext_lazy("通话编号"), gettext_lazy("通话时间"), gettext_lazy("坐席工号"),
           gettext_lazy("坐席姓名"), gettext_lazy("班组"), gettext_lazy("角色"),
           gettext_lazy("开始时间（秒）"), gettext_lazy("文本"), gettext_lazy("识别原文"),
           gettext_lazy("通话链接"))  # fmt: skip


def _export(request: HttpRequest, query: ks.KeywordQuery, export_format: str) -> FileResponse:
    """Every matching turn up to the cap, written to a temporary file first so that the
    audit entry says how many rows left the system."""
    one_call = request.build_absolute_uri(reverse("analytics:call_detail", args=[1]))
    link = one_call.removesuffix("1/")  # + "<id>/" for each row, without reversing 100,000 times
    lines = (_line(row, link) for row in ks.export_rows(query, user=request.user))
    cap_note = _("结果超过 %(cap)d 行，仅导出前 %(cap)d 行，请缩小搜索范围") % {
        "cap": ks.EXPORT_ROW_CAP}
    writer = _write_csv if export_format == "csv" else _write_xlsx
    file, rows, truncated = writer(lines, query, cap_note)
    audit_record(user=request.user, action="search.export", object_type="keyword_search",
                 details={"query": query.params(), "format": export_format, "rows": rows,
                          "truncated": truncated})  # fmt: skip
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    content_type = "text/csv; charset=utf-8" if export_format == "csv" else XLSX_TYPE
    return FileResponse(file, as_attachment=True, content_type=content_type,
                        filename=f"关键词稽核-{stamp}.{export_format}")  # fmt: skip


def _line(row: ks.SearchRow, link: str) -> list[str]:
    started = timezone.localtime(row.started_at).strftime("%Y-%m-%d %H:%M:%S") \
        if row.started_at else ""  # fmt: skip
    return [row.call, started, row.agent_code, row.agent_name, row.team, row.role_label,
            row.seconds, row.text, row.raw_text,
            f"{link}{row.recording_id}/?t={row.seconds}#t={row.seconds}"]  # fmt: skip


def _cell(value: str) -> str:
    # A transcript cell must never be read as a spreadsheet formula.
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _write_csv(lines: Iterable[list[str]], query: ks.KeywordQuery,
               cap_note: str) -> tuple[IO[bytes], int, bool]:
    file = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")  # BOM for Excel
    writer = csv.writer(text)
    writer.writerow([str(column) for column in COLUMNS])
    rows, truncated = 0, False
    for line in lines:
        if rows == ks.EXPORT_ROW_CAP:
            truncated = True
            writer.writerow([f"（{cap_note}）"])
            break
        writer.writerow([_cell(value) for value in line])
        rows += 1
    text.flush()
    text.detach()
    file.seek(0)
    return file, rows, truncated


def _write_xlsx(lines: Iterable[list[str]], query: ks.KeywordQuery,
                cap_note: str) -> tuple[IO[bytes], int, bool]:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def clean(value: str) -> str:
        return _cell(ILLEGAL_CHARACTERS_RE.sub("", value))

    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("搜索结果"))
    sheet.append([str(column) for column in COLUMNS])
    rows, truncated = 0, False
    for line in lines:
        if rows == ks.EXPORT_ROW_CAP:
            truncated = True
            sheet.append([f"（{cap_note}）"])
            break
        sheet.append([clean(value) for value in line])
        rows += 1
    about = book.create_sheet(_("搜索条件"))
    for key, value in query.params().items():
        about.append([key, clean(value)])
    about.append([_("导出行数"), rows])
    about.append([_("导出时间"), timezone.localtime().strftime("%Y-%m-%d %H:%M:%S")])
    if truncated:
        about.append([cap_note])
    file = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it
    book.save(file)
    file.seek(0)
    return file, rows, truncated
