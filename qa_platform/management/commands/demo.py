"""Run the whole product on this box: SFTP source → transcription → analysis → UI."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count

from qa_platform.demo import demo_org_load
from transcription.demo_sftp import LocalSftpServer
from transcription.models import Recording, RecordingSource
from transcription.services.sources import source_pull

DEMO_CALLS = Path(settings.BASE_DIR) / "fixtures" / "demo_calls"
RULE_PACK = "standard"  # fixtures/rulepacks/standard.json: the reference QA standard
SOURCE_NAME = "演示 SFTP 服务器"
PASSWORD_ENV = "QA_DEMO_SFTP_PASSWORD"  # noqa: S105 (a variable name, not a password)


class Command(BaseCommand):
    help = "演示：启动本机 SFTP 服务器，拉取演示录音，转写、分析，并启动 Web 界面。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="Web 界面监听地址")
        parser.add_argument("--no-serve", action="store_true",
                            help="处理完成后退出，不启动 Web 界面")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            self.stdout.write(self.style.WARNING(
                "CELERY_BROKER_URL 已设置：转写与分析将由 Celery worker 执行。"))
        call_command("migrate", interactive=False, verbosity=0)
        call_command("load_rulepack", RULE_PACK, verbosity=0, stdout=self.stdout)
        logins = demo_org_load()

        os.environ[PASSWORD_ENV] = secrets.token_urlsafe(16)
        server = LocalSftpServer(
            DEMO_CALLS,
            username="demo",
            password=os.environ[PASSWORD_ENV],
            host_key_path=Path(settings.QA_DATA_DIR) / "demo" / "ssh_host_ed25519_key",
        )
        server.start()
        try:
            source, _ = RecordingSource.objects.update_or_create(
                name=SOURCE_NAME,
                defaults={
                    "host": "127.0.0.1",
                    "port": server.port,
                    "username": "demo",
                    "password_ref": f"env:{PASSWORD_ENV}",
                    "host_key_fingerprint": server.host_key_fingerprint,
                    "remote_dir": "/",
                    # The demo files are complete already; a live source waits for stability.
                    "stable_seconds": 0,
                    "enabled": True,
                },
            )
            self.stdout.write(f"SFTP 服务器 127.0.0.1:{server.port}，"
                              f"主机指纹 {server.host_key_fingerprint}")
            run = source_pull(source_id=source.id)
            if run is None:
                raise CommandError("另一个拉取任务正占用演示来源，请稍后再试")
            self.stdout.write(
                f"拉取：列出 {run.listed}，新文件 {run.new}，下载 {run.downloaded}，"
                f"跳过 {run.skipped}，失败 {run.failed}"
            )
            for error in run.errors:
                self.stdout.write(self.style.ERROR(f"  {error['path']}: {error['error']}"))
            self._print_pipeline()
            self._print_logins(logins)
            if not options["no_serve"]:
                self.stdout.write(self.style.SUCCESS(
                    f"打开 http://{options['addr']}/ ，"
                    "用上面的质检主管账号登录，查看「待复核通话」。"))
                call_command("runserver", options["addr"], use_reloader=False)
        finally:
            server.stop()

    def _print_pipeline(self) -> None:
        counts = dict(
            Recording.objects.values_list("status").annotate(n=Count("id")).order_by()
        )
        labels = dict(Recording.Status.choices)
        summary = "，".join(f"{labels[s]} {n}" for s, n in sorted(counts.items()))
        self.stdout.write(f"录音状态：{summary or '无'}")
        for recording in Recording.objects.filter(
            status__in=[Recording.Status.FAILED, Recording.Status.REJECTED]
        ):
            self.stdout.write(self.style.WARNING(f"  {recording}: {recording.error}"))

    def _print_logins(self, logins: list[Any]) -> None:
        self.stdout.write("\n演示账号（仅限本机演示）：")
        for login in logins:
            self.stdout.write(f"  {login.role:<6} {login.username:<10} 密码 {login.password}"
                              f"  {login.full_name}")
        self.stdout.write("")
