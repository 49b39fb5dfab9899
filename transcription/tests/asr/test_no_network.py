"""The ``no_network`` guard (conftest, autouse): ASR tests cannot reach anything off-machine.

Loopback stays usable (the suite's own SFTP, PostgreSQL and Redis listen there),
so the guard is checked both ways: outside addresses and name lookups fail at
once with "network blocked in tests", a loopback server still answers.
"""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from transcription.tests.asr.conftest import (
    BLOCKED,
    NetworkGuard,
    is_allowed_address,
    is_loopback_host,
)

# TEST-NET-3 (RFC 5737): never routed; a real connect would hang until the timeout.
OUTSIDE = ("203.0.113.1", 80)


def test_connect_to_an_outside_address_is_refused_at_once(no_network: NetworkGuard) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Were the guard missing, this would time out (or fail otherwise), not match.
        sock.settimeout(2)
        with pytest.raises(OSError, match=f"^{BLOCKED}: connect to .*203.0.113.1"):
            sock.connect(OUTSIDE)
        with pytest.raises(OSError, match=BLOCKED):
            sock.connect_ex(OUTSIDE)
    with pytest.raises(OSError, match=f"^{BLOCKED}: connect to"):
        socket.create_connection(OUTSIDE, timeout=2)  # an IP literal: refused at connect
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock6:
        sock6.settimeout(2)
        with pytest.raises(OSError, match=BLOCKED):
            sock6.connect(("2001:db8::1", 443, 0, 0))
    assert no_network.blocked[-1].startswith("connect to ('2001:db8::1'")


def test_name_lookups_of_outside_hosts_fail(no_network: NetworkGuard) -> None:
    for lookup in (
        lambda: socket.getaddrinfo("www.modelscope.cn", 443),
        lambda: socket.gethostbyname("huggingface.co"),
        lambda: socket.gethostbyname_ex("example.com"),
    ):
        with pytest.raises(socket.gaierror, match=BLOCKED):
            lookup()
    assert "name lookup of 'www.modelscope.cn'" in no_network.blocked
    # Loopback names and wildcard binds still resolve.
    assert {info[4][0] for info in socket.getaddrinfo("localhost", 80)} <= {"127.0.0.1", "::1"}
    assert socket.getaddrinfo(None, 0, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)


def test_model_hub_requests_fail_at_the_socket_layer(no_network: NetworkGuard) -> None:
    # The HTTP stacks funasr's hub downloads go through: urllib, and requests/urllib3
    # (used by modelscope and huggingface_hub).
    with pytest.raises(urllib.error.URLError, match=BLOCKED):
        urllib.request.urlopen("https://www.modelscope.cn", timeout=5)
    requests = pytest.importorskip("requests")
    url = "https://modelscope.cn/api/v1/models/iic/speech_fsmn_vad_zh-cn-16k-common-pytorch"
    with pytest.raises(requests.ConnectionError, match=BLOCKED):
        requests.get(url, timeout=5)
    with pytest.raises(requests.ConnectionError, match=BLOCKED):
        requests.get("https://huggingface.co/api/models/funasr/paraformer-zh", timeout=5)
    assert "name lookup of 'modelscope.cn'" in no_network.blocked


def test_loopback_and_unix_sockets_still_work(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        accepted: list[bytes] = []

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                accepted.append(conn.recv(5))

        thread = threading.Thread(target=serve)
        thread.start()
        with socket.create_connection(("localhost", port), timeout=5) as client:
            client.sendall(b"hello")
        thread.join(timeout=5)
    assert accepted == [b"hello"]

    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix_server:
        unix_server.bind(path)
        unix_server.listen(1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix_client:
            unix_client.connect(path)


@pytest.mark.parametrize(
    ("family", "address", "allowed"),
    [
        (socket.AF_INET, ("127.0.0.1", 5432), True),
        (socket.AF_INET, ("127.8.9.10", 1), True),
        (socket.AF_INET, ("localhost", 6379), True),
        (socket.AF_INET6, ("::1", 22, 0, 0), True),
        (socket.AF_INET6, ("::ffff:127.0.0.1", 22, 0, 0), True),
        (socket.AF_UNIX, "/run/postgresql/.s.PGSQL.5432", True),
        (socket.AF_UNIX, b"\0abstract", True),
        (socket.AF_INET, ("10.0.0.5", 5432), False),
        (socket.AF_INET, ("0.0.0.0", 80), False),
        (socket.AF_INET, ("modelscope.cn", 443), False),
        (socket.AF_INET, ("localhost.evil.com", 443), False),
        (socket.AF_INET6, ("::ffff:8.8.8.8", 53, 0, 0), False),
        (socket.AF_INET6, ("fe80::1%lo", 80, 0, 1), False),
    ],
)
def test_allowed_addresses(family: int, address: object, allowed: bool) -> None:
    assert is_allowed_address(family, address) is allowed


def test_loopback_host_names() -> None:
    assert is_loopback_host("LOCALHOST.") and is_loopback_host(b"127.0.0.1")
    assert is_loopback_host("[::1]") and is_loopback_host("::1%lo")
    assert not is_loopback_host("db.localhost") and not is_loopback_host("127.0.0.1.nip.io")
    assert not is_loopback_host(None) and not is_loopback_host("10.0.0.1")
