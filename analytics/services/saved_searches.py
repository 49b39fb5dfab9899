"""A user's saved keyword-audit searches (保存的搜索): create and delete, audited."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from analytics.keyword_search import KeywordQuery
from analytics.models import SavedSearch
from qa_platform.audit import audit_record

NAME_MAX_LENGTH = 100
User = AbstractBaseUser | AnonymousUser


class SavedSearchError(Exception):
    """A save or delete the user must be told about (message in Chinese)."""


def saved_search_create(*, owner: User, name: str,
                        query: KeywordQuery) -> SavedSearch:
    """Keep `query` (its validated parameters) under `name`, unique per owner."""
    owner_id = owner.pk
    if owner_id is None:
        raise SavedSearchError(_("请先登录"))
    name = name.strip()
    if not name:
        raise SavedSearchError(_("请为保存的搜索填写名称"))
    if len(name) > NAME_MAX_LENGTH:
        raise SavedSearchError(_("名称不能超过 %(n)d 个字") % {"n": NAME_MAX_LENGTH})
    if not query.terms:
        raise SavedSearchError(_("请先输入要搜索的关键词"))
    try:
        with transaction.atomic():
            saved = SavedSearch.objects.create(owner_id=owner_id, name=name, query=query.params())
            audit_record(user=owner, action="search.save", object_type="saved_search",
                         object_id=saved.id, details={"name": name, "query": saved.query})
    except IntegrityError:
        raise SavedSearchError(_("已有名为“%(name)s”的保存的搜索") % {"name": name}) from None
    return saved


def saved_search_delete(*, user: User, saved_search_id: int) -> None:
    """Delete one of the user's own saved searches; someone else's is not found."""
    with transaction.atomic():
        saved = SavedSearch.objects.select_for_update().filter(id=saved_search_id,
                                                               owner=user.pk).first()  # fmt: skip
        if saved is None:
            raise SavedSearch.DoesNotExist
        audit_record(user=user, action="search.delete", object_type="saved_search",
                     object_id=saved.id, details={"name": saved.name, "query": saved.query})
        saved.delete()
