"""The compiled active rule set, cached per worker process and rebuilt when rules change."""

from __future__ import annotations

import threading

from django.db.models import Count, Max

from analytics.models import Rule
from analytics.rules.keyword import CompiledRuleSet, KeywordRuleSpec

_lock = threading.Lock()
_cache: dict[str, tuple[object, CompiledRuleSet]] = {}


def active_ruleset() -> CompiledRuleSet:
    """Compile once per rule-set version; the version is read with one cheap aggregate."""
    version = tuple(Rule.objects.aggregate(n=Count("id"), changed=Max("updated_at")).values())
    with _lock:
        cached = _cache.get("active")
        if cached is not None and cached[0] == version:
            return cached[1]
    specs = [
        KeywordRuleSpec(
            rule_id=rule.id,
            name=rule.name,
            keywords=tuple(str(k) for k in rule.keywords),
            role=rule.role,
            reason_template=rule.reason_template,
        )
        for rule in Rule.objects.filter(is_active=True)
    ]
    compiled = CompiledRuleSet(specs)
    with _lock:
        _cache["active"] = (version, compiled)
    return compiled
