"""Keyword audit search on PostgreSQL: the product's query with and without its indexes.

Builds a throw-away database, migrates it (transcription 0006 creates the pg_trgm indexes, 0008
the bigram indexes two-character terms use), stores N synthetic calls of 20 turns (COPY, not
timed), ANALYZEs, then times what the search page runs for one page (count + first 50 rows, as
an auditor) for a selective term, a common two-character term, and two-character terms common
and rare — first with the indexes, then with them dropped (the baseline: a sequential scan) —
and prints each plan's access path and the ratio.

Last stdout line: `RESULT {json}`. The database is dropped at the end unless `--keep`.

    .venv/bin/python benchmarks/keyword_search.py [--calls N]
        [--server postgres://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from any directory

DB_NAME = "qa_bench_keyword_search"
TURNS = 20
PHRASES = (
    "您好，这里是客户服务中心", "请问有什么可以帮您", "我想查询一下信用卡账单", "年费怎么收的",
    "我要投诉你们的服务", "麻烦您提供一下身份证后四位", "好的，已经为您登记", "还款日是几号",
    "分期手续费是多少", "请您稍等，我帮您查询一下", "感谢您的来电，祝您生活愉快", "我不太明白",
    "可以帮我转人工吗", "您的积分可以兑换礼品", "额度调整需要审核", "保单的现金价值是多少",
    "流量套餐可以升级", "宽带什么时候能修好", "我已经等了很久了", "请问还有其他问题吗",
)  # fmt: skip
RARE = "理赔拒付"  # in one turn of every 500 calls' worth of turns: the selective term
TERMS = {
    "selective": RARE,
    "common": "投诉",
    "two_characters": "年费",
    "two_characters_selective": RARE[2:],
}


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _server_sql(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql)


def _populate(calls: int) -> None:
    import hashlib

    from django.db import connection

    from transcription.models import Recording, Transcript

    rng = random.Random(7)
    recordings = Recording.objects.bulk_create(
        Recording(sha256=hashlib.sha256(str(i).encode()).hexdigest(), size_bytes=1,
                  audio_file="x.mp3", status=Recording.Status.ANALYZED, call_id=f"B-{i}")
        for i in range(calls)
    )  # fmt: skip
    transcripts = Transcript.objects.bulk_create(
        Transcript(recording=r, engine=Transcript.Engine.SIDECAR) for r in recordings
    )
    rare_every = 500 * TURNS
    n = 0
    with connection.cursor() as cursor:
        raw: Any = cursor.connection
        with raw.cursor().copy(
            "COPY transcription_segment (transcript_id, index, role, start_ms, end_ms, raw_text,"
            " text, emotion, char_timestamps) FROM STDIN"
        ) as copy:
            for transcript in transcripts:
                for index in range(TURNS):
                    text = "，".join(rng.sample(PHRASES, 3))
                    if n % rare_every == rare_every // 2:
                        text += f"，为什么{RARE}"
                    n += 1
                    role = "agent" if index % 2 == 0 else "customer"
                    copy.write_row((transcript.id, index, role, index * 5000, index * 5000 + 4000,
                                    text, text, "", "[]"))  # fmt: skip
        cursor.execute("ANALYZE")


def _measure(user: Any, term: str, repeat: int = 3) -> tuple[float, int, str]:
    from django.core.paginator import Paginator
    from django.db import connection

    from analytics.keyword_search import search_parse, search_results, search_rows

    query = search_parse({"q": term}, user=user).query
    best = float("inf")
    count = 0
    for _ in range(repeat):
        start = time.perf_counter()
        page = Paginator(search_results(query, user=user), 50).get_page(1)
        count = page.paginator.count
        search_rows(page.object_list)
        best = min(best, time.perf_counter() - start)
    sql, params = search_results(query, user=user)[:50].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return best, count, plan


def _substring_q(term: str) -> Any:
    from django.db.models import Q

    return Q(text__icontains=term) | Q(raw_text__icontains=term)


def _access_path(plan: str) -> str:
    if "segment_text_upper_trgm" in plan or "segment_raw_text_upper_trgm" in plan:
        return "trigram index"
    if "segment_text_upper_bigrams" in plan or "segment_raw_text_upper_bigrams" in plan:
        return "bigram index"
    return "sequential scan" if "Seq Scan on transcription_segment" in plan else "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--show-plans", action="store_true")
    args = parser.parse_args()

    _server_sql(args.server, f"DROP DATABASE IF EXISTS {DB_NAME}")
    _server_sql(args.server, f"CREATE DATABASE {DB_NAME}")
    os.environ["DATABASE_URL"] = _with_db(args.server, DB_NAME)
    os.environ.setdefault("QA_DATA_DIR", tempfile.mkdtemp(prefix="qa-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qa_platform.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection

    from analytics import keyword_search

    try:
        call_command("migrate", verbosity=0)
        _populate(args.calls)
        admin = User.objects.create_superuser("bench", password="x")
        results: dict[str, Any] = {"calls": args.calls, "segments": args.calls * TURNS}
        indexed = {name: _measure(admin, term) for name, term in TERMS.items()}
        with connection.cursor() as cursor:
            cursor.execute(
                "DROP INDEX segment_text_upper_trgm, segment_raw_text_upper_trgm,"
                " segment_text_upper_bigrams, segment_raw_text_upper_bigrams"
            )
        # The baseline is a plain substring scan (UPPER(col) LIKE %term%) for every term, as
        # the search ran before the bigram indexes; filtering on qa_bigrams() with no index to
        # serve it would compute every turn's bigrams and be a far slower strawman.
        with mock.patch.object(keyword_search, "_term_q", _substring_q):
            baseline = {name: _measure(admin, term) for name, term in TERMS.items()}
        for name, term in TERMS.items():
            (fast, count, plan), (slow, _count, base_plan) = indexed[name], baseline[name]
            results[name] = {"term": term, "rows": count, "indexed_s": round(fast, 4),
                             "seq_scan_s": round(slow, 4), "speedup": round(slow / fast, 1),
                             "path": _access_path(plan)}  # fmt: skip
            print(f"{name:15} {term}: {count} rows, {fast * 1000:.1f} ms ({_access_path(plan)})"
                  f" vs {slow * 1000:.1f} ms without the indexes ({_access_path(base_plan)}):"
                  f" ×{slow / fast:.1f}")  # fmt: skip
            if args.show_plans:
                print(plan, "\n")
        print("RESULT " + json.dumps(results, ensure_ascii=False))
    finally:
        connection.close()
        if not args.keep:
            _server_sql(args.server, f"DROP DATABASE IF EXISTS {DB_NAME}")


if __name__ == "__main__":
    main()
