"""Re-analysis of stored calls on PostgreSQL: read segments, run the rules, write hits and scores.

Builds a throw-away database on the PostgreSQL server (default the local one), migrates it,
activates the standard pack plus the 500 synthetic rules of benchmarks/rules.py, stores N
synthetic 5-minute calls (~80 segments, ~1,500 characters each; COPY, not timed), then times
the product's own re-analysis job (`analytics.services.reanalysis`), as `--workers` analytics
workers would run it (one process per share), three times:

* `first`: the calls have no analysis yet (every hit and score is inserted);
* `edit`: a new version with 10 of the rules edited is activated and re-analyzes every call
  — the everyday case the target is about (those rules' hits and every score rewritten);
* `all_changed` (with `--worst-case`): a version in which every synthetic rule changed, so
  every hit is rewritten.

Target (issue): 100,000 calls re-analyzed in ≤ 5 minutes on a 2-core machine.
Last stdout line: `RESULT {json}`. The database is dropped at the end unless `--keep`.

    .venv/bin/python benchmarks/reanalysis_pg.py [--calls N] [--quick] [--workers N]
        [--server postgres://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from any directory

DB_NAME = "qa_bench_reanalysis"
TARGET_CALLS, TARGET_SECONDS = 100_000, 300.0
CHUNK = 2_000


def _bench_rules() -> Any:
    spec = importlib.util.spec_from_file_location("bench_rules", ROOT / "benchmarks" / "rules.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_rules"] = module
    spec.loader.exec_module(module)
    return module


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _recreate_database(server: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def _drop_database(server: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def _setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("QA_DATA_DIR", tempfile.mkdtemp(prefix="qa-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qa_platform.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


_SHIFT = {"info": "minor", "minor": "major", "major": "critical", "critical": "major"}


def _pack(bench: Any, edited: int = 0) -> dict[str, Any]:
    """The standard pack with the 500 synthetic rules added (keys do not collide); the first
    `edited` synthetic rules get another severity, as an admin's edit would."""
    standard = json.loads((ROOT / "fixtures" / "rulepacks" / "standard.json").read_text("utf-8"))
    extra = []
    for number, doc in enumerate(bench.generate_rules()):
        doc = {k: v for k, v in doc.items() if k != "id"}
        if number < edited:
            doc["severity"] = _SHIFT[doc["severity"]]
        extra.append(doc)
    standard["rules"] = [{**doc, "id": i} for i, doc in enumerate(standard["rules"] + extra, 1)]
    return standard


def _store_calls(bench: Any, count: int) -> float:
    """Recordings, transcripts and segments for `count` synthetic calls; returns seconds."""
    from django.db import connection, transaction
    from django.utils import timezone

    from qa_platform.models import Agent, Team
    from transcription.models import Recording, Transcript

    started = time.perf_counter()
    team = Team.objects.create(name="基准班组")
    agents = [Agent.objects.create(code=f"B{i:03d}", name=f"坐席{i}", team=team)
              for i in range(50)]  # fmt: skip
    now = timezone.now()
    for offset in range(0, count, CHUNK):
        calls = [bench.generate_call(i) for i in range(offset, min(count, offset + CHUNK))]
        with transaction.atomic():
            recordings = Recording.objects.bulk_create(
                Recording(
                    sha256=f"{offset + n:064x}", size_bytes=1, audio_file="bench.wav",
                    status=Recording.Status.ANALYZED, call_id=f"BENCH-{offset + n}",
                    agent=agents[(offset + n) % len(agents)],
                    started_at=now - dt.timedelta(minutes=offset + n),
                    channels=1 if call.channel_layout == "mono" else 2,
                    duration_ms=call.duration_ms,
                )
                for n, call in enumerate(calls)
            )  # fmt: skip
            transcripts = Transcript.objects.bulk_create(
                Transcript(recording=r, engine=Transcript.Engine.SIDECAR) for r in recordings)
            with connection.cursor() as cursor:
                copy_sql = ("COPY transcription_segment (transcript_id, index, role, start_ms, "
                            "end_ms, raw_text, text, emotion, char_timestamps) FROM STDIN")
                with cursor.cursor.copy(copy_sql) as copy:
                    for transcript, call in zip(transcripts, calls, strict=True):
                        for index, seg in enumerate(call.segments):
                            copy.write_row((transcript.id, index, seg.role, seg.start_ms,
                                            seg.end_ms, seg.text, seg.text, seg.emotion, "[]"))
        print(f"  stored {min(count, offset + CHUNK):,} calls", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def _worker(job_id: int, partition: int) -> None:
    from django.db import connections

    from analytics.services.reanalysis import reanalysis_run

    connections.close_all()  # a forked child must not share the parent's connection
    reanalysis_run(job_id=job_id, partition=partition, seconds=None)
    connections.close_all()


def _run_job(workers: int) -> dict[str, Any]:
    from django.db import connections, transaction
    from django.utils import timezone

    from analytics.models import ReanalysisJob, RuleSetVersion
    from analytics.services.reanalysis import reanalysis_start

    version = RuleSetVersion.objects.get(status=RuleSetVersion.Status.ACTIVE)
    today = timezone.localdate()
    with transaction.atomic():
        job = reanalysis_start(version=version, date_from=today - dt.timedelta(days=3650),
                               date_to=today, user=None, partitions=workers)  # fmt: skip
        # Queued on commit in-process would run here, serially: start the workers ourselves.
        transaction.get_connection().run_on_commit.clear()
    connections.close_all()
    context = multiprocessing.get_context("fork")
    started = time.perf_counter()
    processes = [context.Process(target=_worker, args=(job.id, k)) for k in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    seconds = time.perf_counter() - started
    job = ReanalysisJob.objects.get(id=job.id)
    if job.status != ReanalysisJob.Status.DONE or any(p.exitcode for p in processes):
        raise SystemExit(f"re-analysis job ended {job.status} ({job.error}); "
                         f"exit codes {[p.exitcode for p in processes]}")
    return {"calls": job.done, "failed": job.failed, "seconds": round(seconds, 2),
            "calls_per_s": round(job.done / seconds, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=TARGET_CALLS)
    parser.add_argument("--quick", action="store_true", help="5,000 calls")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="processes, one per share of the job (default: one per core)")
    parser.add_argument("--server", default=os.environ.get(
        "BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server (a maintenance database) where the benchmark database is made")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--worst-case", action="store_true",
                        help="also re-analyze after every synthetic rule changed")
    args = parser.parse_args(argv)
    count = 5_000 if args.quick else args.calls
    bench = _bench_rules()
    _recreate_database(args.server)
    try:
        _setup_django(_with_db(args.server, DB_NAME))
        from django.core.management import call_command

        from analytics.services.rulesets import rulepack_load
        from transcription.models import Segment

        call_command("migrate", verbosity=0)
        rulepack_load(document=_pack(bench))
        print(f"storing {count:,} synthetic calls …", flush=True)
        store_s = _store_calls(bench, count)
        segments = Segment.objects.count()
        print(f"analyzing ({args.workers} workers) …", flush=True)
        first = _run_job(args.workers)
        print(f"  first analysis: {first}", flush=True)
        from analytics.models import CallScore, Hit

        hits = Hit.objects.count()
        rulepack_load(document=_pack(bench, edited=10))  # a new version, activated
        edit = _run_job(args.workers)
        print(f"  after editing 10 rules: {edit}", flush=True)
        all_changed = None
        if args.worst_case:
            rulepack_load(document=_pack(bench, edited=10_000))
            all_changed = _run_job(args.workers)
            print(f"  after changing every rule: {all_changed}", flush=True)
        projected = edit["seconds"] * TARGET_CALLS / max(edit["calls"], 1)
        result = {
            "calls": count, "segments": segments, "segments_per_call": round(segments / count, 1),
            "rules": len(_pack(bench)["rules"]), "workers": args.workers,
            "cores": os.cpu_count(), "store_s": round(store_s, 1), "hits": hits,
            "hits_per_call": round(hits / count, 1), "scores": CallScore.objects.count(),
            "first": first, "edit": edit, "all_changed": all_changed,
            "projected_100k_s": round(projected, 1), "target_s_for_100k": TARGET_SECONDS,
            "meets_target": projected <= TARGET_SECONDS,
            "python": platform.python_version(),
        }  # fmt: skip
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            _drop_database(args.server)
    print("RESULT " + json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
