"""Install or update a rule pack: `python manage.py load_rulepack standard`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.models import RuleSetVersion
from analytics.services.rulesets import RuleSetError, rulepack_load_file


class Command(BaseCommand):
    help = "安装或更新规则包（fixtures/rulepacks/NAME.json 或文件路径），默认立即生效"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("pack", help="规则包名称（如 standard）或 JSON 文件路径")
        parser.add_argument("--no-activate", action="store_true",
                            help="只保存为草稿版本，不生效")  # fmt: skip

    def handle(self, *args: object, **options: object) -> None:
        try:
            version = rulepack_load_file(name_or_path=str(options["pack"]),
                                         activate=not options["no_activate"])  # fmt: skip
        except RuleSetError as exc:
            raise CommandError(
                "规则包无效：\n" + "\n".join(f"  - {e}" for e in exc.errors)
            ) from None
        if int(str(options.get("verbosity", 1))) < 1:
            return
        state = dict(RuleSetVersion.Status.choices)[version.status]
        rules = version.rule_versions.count()
        self.stdout.write(self.style.SUCCESS(
            f"规则方案「{version.rule_set.title}」版本 {version.number}（{state}）：{rules} 条规则"
        ))  # fmt: skip
