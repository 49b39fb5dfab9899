"""Rule sets, rules and scorecards: loading packs, editing with versions, activating.

Every edit validates the whole rule set it would produce (so a precondition naming a missing
rule, a cycle, or a label pointing at a removed rule is refused with Chinese messages), then
writes a new immutable `RuleVersion` / `ScorecardVersion` and puts it into the rule set's draft
version. Activating a version makes it the one every new call is analyzed with, and can start a
re-analysis of past calls.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from analytics.models import (
    ReanalysisJob,
    Rule,
    RuleSet,
    RuleSetVersion,
    RuleVersion,
    Scorecard,
    ScorecardVersion,
)
from analytics.rulepack import RulePack, RulePackError, resolve_pack
from analytics.rules.spec import ProblemsError, RuleSpecError, parse_rule
from qa_i18n import msg
from qa_platform.audit import audit_record

User = AbstractBaseUser | AnonymousUser

# Fields of a rule document that belong to the rule's identity, not to a version.
_IDENTITY_FIELDS = ("id",)


class RuleSetError(ProblemsError):
    """An edit or a pack would produce an invalid rule set."""


@dataclass(frozen=True)
class RuleRef:
    rule_id: int
    rule_version_id: int
    number: int


@dataclass(frozen=True)
class CompiledVersion:
    """A rule-set version ready to run: the compiled pack and what its rule keys point at."""

    version_id: int
    scorecard_version_id: int
    pack: RulePack
    rules: Mapping[str, RuleRef]  # rule key → rule, rule version

    @property
    def rule_version_numbers(self) -> dict[str, int]:
        return {key: ref.number for key, ref in self.rules.items()}

    @property
    def label_rules(self) -> frozenset[str]:
        """The rules the scorecard's items are read from."""
        return frozenset(s.rule for s in self.pack.labels.values() if s.rule is not None)


# -- reading -----------------------------------------------------------------------------------


def user_or_none(user: User | None) -> Any:
    return user if user is not None and user.is_authenticated else None


def active_version() -> RuleSetVersion | None:
    return RuleSetVersion.objects.filter(status=RuleSetVersion.Status.ACTIVE).first()


def version_documents(version: RuleSetVersion) -> tuple[list[dict[str, Any]], ScorecardVersion]:
    """The rule documents of a version (with their engine ids) and its scorecard version."""
    rule_versions = version.rule_versions.select_related("rule").order_by("rule__key")
    docs = [{**rv.document, "id": rv.rule_id, "key": rv.rule.key} for rv in rule_versions]
    return docs, version.scorecard_version


def pack_document(
    rule_set: RuleSet, number: int, rules: list[dict[str, Any]], scorecard: ScorecardVersion
) -> dict[str, Any]:
    return {
        "name": rule_set.name, "title": rule_set.title, "version": max(number, 1),
        "rules": rules, "labels": scorecard.labels, "scorecard": scorecard.document,
    }  # fmt: skip


_cache_lock = threading.Lock()
# (version id, created_at): an id alone could name another version after a database restore.
_compiled: dict[tuple[int, dt.datetime], CompiledVersion] = {}


def compiled_version(version: RuleSetVersion) -> CompiledVersion:
    """Compile a version once per process (a non-draft version never changes)."""
    cache_key = (version.id, version.created_at)
    if version.status != RuleSetVersion.Status.DRAFT:
        with _cache_lock:
            cached = _compiled.get(cache_key)
        if cached is not None:
            return cached
    docs, scorecard = version_documents(version)
    pack = RulePack.from_document(pack_document(version.rule_set, version.number, docs, scorecard))
    refs = {
        rv.rule.key: RuleRef(rv.rule_id, rv.id, rv.number)
        for rv in version.rule_versions.select_related("rule")
    }
    compiled = CompiledVersion(version.id, scorecard.id, pack, refs)
    if version.status != RuleSetVersion.Status.DRAFT:
        with _cache_lock:
            _compiled[cache_key] = compiled
    return compiled


def active_compiled() -> CompiledVersion | None:
    """The active version, compiled (cached per worker process); None when nothing is active."""
    key = (
        RuleSetVersion.objects.filter(status=RuleSetVersion.Status.ACTIVE)
        .values_list("id", "created_at")
        .first()
    )
    if key is None:
        return None
    with _cache_lock:
        cached = _compiled.get(key)
    if cached is not None:
        return cached
    return compiled_version(RuleSetVersion.objects.select_related("rule_set").get(id=key[0]))


# -- writing -----------------------------------------------------------------------------------


def _canonical(document: object) -> str:
    return json.dumps(document, ensure_ascii=False, sort_keys=True)


def _fingerprint(document: object) -> str:
    return hashlib.sha256(_canonical(document).encode("utf-8")).hexdigest()


def rule_body(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in _IDENTITY_FIELDS}


def validate_pack(rule_set: RuleSet, rules: list[dict[str, Any]], labels: object,
              scorecard: object) -> RulePack:  # fmt: skip
    document = {"name": rule_set.name, "title": rule_set.title, "version": 1, "rules": rules,
                "labels": labels, "scorecard": scorecard}  # fmt: skip
    try:
        return RulePack.from_document(document)
    except RulePackError as exc:
        raise RuleSetError(exc.errors) from None


def _latest_rule_version(rule: Rule) -> RuleVersion | None:
    return rule.versions.order_by("-number").first()


def _next_number(queryset: Any) -> int:
    return int(queryset.aggregate(n=Max("number"))["n"] or 0) + 1


def _rule_version_for(
    rule_set: RuleSet, document: Mapping[str, Any], user: User | None, comment: str
) -> RuleVersion:
    """The latest version of the rule if it already says exactly this, else a new version."""
    body = rule_body(document)
    rule, _ = Rule.objects.get_or_create(rule_set=rule_set, key=body["key"])
    latest = _latest_rule_version(rule)
    if latest is not None and _canonical(latest.document) == _canonical(body):
        return latest
    return RuleVersion.objects.create(
        rule=rule, number=(latest.number + 1) if latest else 1,
        name=str(body.get("name") or body["key"]), severity=str(body["severity"]),
        document=body, comment=comment[:500], created_by=user_or_none(user),
    )  # fmt: skip


def _scorecard_version_for(
    rule_set: RuleSet, labels: object, document: object, user: User | None, comment: str
) -> ScorecardVersion:
    scorecard, _ = Scorecard.objects.get_or_create(rule_set=rule_set)
    latest = scorecard.versions.order_by("-number").first()
    if (latest is not None and _canonical(latest.labels) == _canonical(labels)
            and _canonical(latest.document) == _canonical(document)):  # fmt: skip
        return latest
    return ScorecardVersion.objects.create(
        scorecard=scorecard, number=(latest.number + 1) if latest else 1, labels=labels,
        document=document, comment=comment[:500], created_by=user_or_none(user),
    )  # fmt: skip


def _draft_with(
    rule_set: RuleSet, rule_versions: list[RuleVersion], scorecard: ScorecardVersion,
    user: User | None, comment: str,
) -> RuleSetVersion:  # fmt: skip
    """Put this content into the rule set's draft (creating one unless the latest is a draft).

    A draft never scored a call, so changing it in place loses nothing; the latest version is
    reused outright when it already has exactly this content.
    """
    latest = rule_set.versions.order_by("-number").first()
    wanted = {rv.id for rv in rule_versions}
    if latest is not None:
        current = set(latest.rule_versions.values_list("id", flat=True))
        if current == wanted and latest.scorecard_version_id == scorecard.id:
            return latest
    if latest is not None and latest.status == RuleSetVersion.Status.DRAFT:
        draft = latest
        draft.scorecard_version = scorecard
        draft.comment = comment[:500] or draft.comment
        draft.save(update_fields=["scorecard_version", "comment"])
    else:
        draft = RuleSetVersion.objects.create(
            rule_set=rule_set, number=_next_number(rule_set.versions), scorecard_version=scorecard,
            comment=comment[:500], created_by=user_or_none(user),
        )  # fmt: skip
    draft.rule_versions.set(rule_versions)
    return draft


def _base_version(rule_set: RuleSet) -> RuleSetVersion | None:
    """What an edit starts from: the draft if there is one, else the active/latest version."""
    return rule_set.versions.order_by("-number").first()


def current_content(
    rule_set: RuleSet,
) -> tuple[dict[str, RuleVersion], ScorecardVersion | None]:
    """The rule versions (by key) and scorecard version an edit starts from."""
    base = _base_version(rule_set)
    if base is None:
        return {}, None
    versions = {rv.rule.key: rv for rv in base.rule_versions.select_related("rule")}
    return dict(sorted(versions.items())), base.scorecard_version


def documents_of(versions: Mapping[str, RuleVersion]) -> dict[str, dict[str, Any]]:
    return {key: {**rv.document, "key": key} for key, rv in versions.items()}


@transaction.atomic
def rulepack_load(
    *, document: Mapping[str, Any], user: User | None = None, activate: bool = True,
    comment: str = "",
) -> RuleSetVersion:  # fmt: skip
    """Install (or update) a rule set from a pack document; a no-op when nothing changed.

    Rules the pack no longer has are left out of the new version (their history stays).
    """
    try:
        RulePack.from_document(document)
    except RulePackError as exc:
        raise RuleSetError(exc.errors) from None
    name = str(document["name"])
    rule_set, created = RuleSet.objects.get_or_create(
        name=name, defaults={"title": document["title"],
                             "description": str(document.get("description", ""))},
    )  # fmt: skip
    if not created and (rule_set.title, rule_set.description) != (
        document["title"], str(document.get("description", ""))
    ):
        rule_set.title = document["title"]
        rule_set.description = str(document.get("description", ""))
        rule_set.save(update_fields=["title", "description", "updated_at"])
    note = comment or msg("载入规则包 {name} v{version}", name=name, version=document["version"])
    rule_versions = [_rule_version_for(rule_set, doc, user, note) for doc in document["rules"]]
    scorecard = _scorecard_version_for(rule_set, document["labels"], document["scorecard"],
                                       user, note)  # fmt: skip
    version = _draft_with(rule_set, rule_versions, scorecard, user, note)
    audit_record(user=user, action="ruleset.load", object_type="rule_set_version",
                 object_id=version.id, details={"rule_set": name, "number": version.number,
                                                "rules": len(rule_versions)})  # fmt: skip
    if activate and version.status != RuleSetVersion.Status.ACTIVE:
        rule_set_version_activate(version=version, user=user)
    return version


def rulepack_load_file(*, name_or_path: str, user: User | None = None,
                       activate: bool = True) -> RuleSetVersion:  # fmt: skip
    path = resolve_pack(name_or_path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RuleSetError(
            [msg("无法读取规则包 {path}：{error}", path=path, error=exc.strerror or exc)]
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RuleSetError(
            [msg("规则包 {path} 不是有效的 UTF-8 JSON：{error}", path=path, error=exc)]
        ) from None
    if not isinstance(document, dict):
        raise RuleSetError([msg("规则包的顶层必须是 JSON 对象")])
    return rulepack_load(document=document, user=user, activate=activate)


def parse_rule_text(text: str) -> dict[str, Any]:
    """A rule document typed into the editor; RuleSetError (Chinese) when it is not JSON."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = msg(
            "规则定义不是有效的 JSON：第 {line} 行第 {column} 列，{error}",
            line=exc.lineno,
            column=exc.colno,
            error=exc.msg,
        )
        raise RuleSetError([problem]) from None
    if not isinstance(document, dict):
        raise RuleSetError([msg("规则定义必须是 JSON 对象")])
    return document


@transaction.atomic
def rule_save(
    *, rule_set: RuleSet, document: Mapping[str, Any], user: User | None, comment: str = "",
    original_key: str | None = None,
) -> RuleVersion:  # fmt: skip
    """Create or edit one rule: validated with the whole draft, then a new version in the draft.

    `original_key` is the key being edited (None for a new rule); renaming a key is refused,
    because labels, preconditions and history refer to it.
    """
    body = rule_body(document)
    errors: list[str] = []
    try:
        parse_rule({**body, "id": 0})
    except RuleSpecError as exc:
        errors.extend(exc.errors)
    key = body.get("key")
    current, scorecard = current_content(rule_set)
    rules = documents_of(current)
    if original_key is not None and key != original_key:
        errors.append(
            msg(
                "不能修改规则标识 key（原为「{key}」）：质检项和前置条件按它引用规则",
                key=original_key,
            )
        )
    elif original_key is None and isinstance(key, str) and key in rules:
        errors.append(msg("规则标识「{key}」已存在", key=key))
    if scorecard is None:
        errors.append(msg("该规则方案还没有评分表，请先载入规则包"))
    if errors:
        raise RuleSetError(errors)
    assert isinstance(key, str) and scorecard is not None
    rules[key] = body
    docs = [{**doc, "id": i} for i, doc in enumerate(rules.values())]
    validate_pack(rule_set, docs, scorecard.labels, scorecard.document)
    version = _rule_version_for(rule_set, body, user, comment)
    all_versions = [version if k == key else current[k] for k in rules]
    note = comment or msg("修改规则 {key}", key=key)
    draft = _draft_with(rule_set, all_versions, scorecard, user, note)
    audit_record(user=user, action="rule.save", object_type="rule", object_id=version.rule_id,
                 details={"key": key, "version": version.number, "draft": draft.number,
                          "comment": comment[:200]})  # fmt: skip
    return version


@transaction.atomic
def scorecard_save(
    *, rule_set: RuleSet, labels: object, document: object, user: User | None, comment: str = "",
) -> ScorecardVersion:  # fmt: skip
    current, _ = current_content(rule_set)
    docs = [{**doc, "id": i} for i, doc in enumerate(documents_of(current).values())]
    validate_pack(rule_set, docs, labels, document)
    version = _scorecard_version_for(rule_set, labels, document, user, comment)
    note = comment or msg("修改评分表")
    draft = _draft_with(rule_set, list(current.values()), version, user, note)
    audit_record(user=user, action="scorecard.save", object_type="scorecard_version",
                 object_id=version.id, details={"number": version.number, "draft": draft.number,
                                                "comment": comment[:200]})  # fmt: skip
    return version


@transaction.atomic
def rule_set_version_activate(
    *, version: RuleSetVersion, user: User | None,
    reanalyze_from: dt.date | None = None, reanalyze_to: dt.date | None = None,
) -> ReanalysisJob | None:  # fmt: skip
    """Make `version` the one new calls are analyzed with; optionally re-analyze a date range.

    A re-analysis still running for an older version is cancelled: its remaining calls would
    otherwise be scored with rules that no longer apply.
    """
    locked = RuleSetVersion.objects.select_for_update().get(id=version.id)
    try:
        compiled_version(locked)  # refuse to activate something that does not compile
    except RulePackError as exc:
        raise RuleSetError(exc.errors) from None
    now = timezone.now()
    previous = list(
        RuleSetVersion.objects.select_for_update()
        .filter(status=RuleSetVersion.Status.ACTIVE)
        .exclude(id=version.id)
    )
    for old in previous:
        old.status = RuleSetVersion.Status.RETIRED
        old.save(update_fields=["status"])
    if locked.status != RuleSetVersion.Status.ACTIVE:
        locked.status = RuleSetVersion.Status.ACTIVE
        locked.activated_at, locked.activated_by = now, user_or_none(user)
        locked.save(update_fields=["status", "activated_at", "activated_by"])
    version.status, version.activated_at = locked.status, locked.activated_at
    version.activated_by_id = locked.activated_by_id
    ReanalysisJob.objects.filter(
        status__in=[ReanalysisJob.Status.QUEUED, ReanalysisJob.Status.RUNNING]
    ).exclude(rule_set_version=version).update(
        status=ReanalysisJob.Status.CANCELLED, finished_at=now,
        error=msg("规则方案已切换到新版本，本任务取消"),
    )  # fmt: skip
    audit_record(user=user, action="ruleset.activate", object_type="rule_set_version",
                 object_id=version.id,
                 details={"number": version.number,
                          "retired": [old.number for old in previous]})  # fmt: skip
    if reanalyze_from is None or reanalyze_to is None:
        return None
    from analytics.services.reanalysis import reanalysis_start

    return reanalysis_start(version=version, date_from=reanalyze_from, date_to=reanalyze_to,
                            user=user)  # fmt: skip
