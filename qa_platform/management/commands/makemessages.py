"""Django's makemessages, also extracting `qa_i18n.msg(...)` templates from Django-free code."""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=msg"]
