from django.test import Client


def test_healthz_answers_without_login(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database_broker_and_disk(client: Client, db: None) -> None:
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"database", "broker", "disk"}
    assert body["checks"]["database"]["ok"] is True
    assert "free_mb" in body["checks"]["disk"]


def test_readyz_is_unavailable_when_the_disk_is_nearly_full(client: Client, db: None,
                                                            settings: object) -> None:
    settings.QA_MIN_FREE_DISK_MB = 10**12  # type: ignore[attr-defined]
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["disk"]["ok"] is False


def test_readyz_reports_an_unreachable_broker_without_revealing_its_address(
    client: Client, db: None, settings: object
) -> None:
    from qa_platform.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False  # type: ignore[attr-defined]
    original = app.conf.broker_url
    app.conf.update(broker_url="redis://user:s3cret@127.0.0.1:1/0")
    try:
        response = client.get("/readyz")
    finally:
        app.conf.update(broker_url=original)
    assert response.status_code == 503
    assert "s3cret" not in response.content.decode()
    assert response.json()["checks"]["broker"]["ok"] is False


def test_pages_require_login(client: Client, db: None) -> None:
    for url in ("/", "/calls/review/", "/calls/1/", "/admin/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "login" in response["Location"], url


def test_the_login_page_can_switch_language_before_login(client: Client, db: None) -> None:
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    login = client.get("/accounts/login/")
    assert login.headers["Content-Language"] == "en"
    assert "Log in" in login.content.decode()


def test_an_english_browser_still_gets_the_chinese_interface(client: Client, db: None) -> None:
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert response.headers["Content-Language"] == "zh-hans"
    assert "登录" in response.content.decode()
