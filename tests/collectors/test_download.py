"""The shared downloader and zip access, against real loopback sockets."""

from __future__ import annotations

import hashlib
import logging
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from collectors.base import FatalError, ThrottledError, TransientError
from collectors.download import (
    BulkArchive,
    CorruptArchiveError,
    Downloader,
    UnsafeArchiveError,
    Validators,
    ZipLimits,
    check_member_name,
)
from collectors.http import Retrier, RetryPolicy
from collectors.replicas.bulkfile import BulkFileEndpoint
from collectors.replicas.server import ReplicaRequest, ReplicaResponse, ReplicaServer
from tests.collectors.bulk_helpers import files_under


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    """A zip of about 300 kB whose bytes do not compress away (so drops land mid-body)."""
    path = tmp_path / "served" / "file.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(
            "folder/data.csv", "a,b\n" + "".join(f"{i},{i * 7}\n" for i in range(40_000))
        )
    return path


@pytest.fixture
def endpoint(payload: Path) -> BulkFileEndpoint:
    return BulkFileEndpoint(payload)


@pytest.fixture
def server(endpoint: BulkFileEndpoint) -> Iterator[ReplicaServer]:
    with ReplicaServer(endpoint.handle) as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as running:
        yield running


def downloader(
    client: httpx.Client,
    data_dir: Path,
    *,
    max_bytes: int = 10 << 20,
    attempts: int = 1,
    max_wait_seconds: float = 60,
    sleep: Callable[[float], None] = lambda _: None,
) -> Downloader:
    policy = RetryPolicy(max_retries=attempts - 1, max_wait_seconds=max_wait_seconds)
    retrier = Retrier(policy, logging.getLogger("test"), sleep)
    return Downloader(client, data_dir, max_bytes=max_bytes, retrier=retrier)


def test_download_is_kept_content_addressed(
    tmp_path: Path, payload: Path, server: ReplicaServer, client: httpx.Client
) -> None:
    data = tmp_path / "data"
    result = downloader(client, data).fetch(server.url + "/file.zip")
    assert result is not None
    sha = hashlib.sha256(payload.read_bytes()).hexdigest()
    assert result.sha256 == sha
    assert result.relative_path == f"raw/{sha[:2]}/{sha}.zip"
    assert result.path.read_bytes() == payload.read_bytes()
    assert result.validators.etag and result.validators.last_modified
    assert files_under(data / "tmp") == []


def test_unchanged_file_costs_one_request_and_writes_nothing(
    tmp_path: Path, server: ReplicaServer, client: httpx.Client
) -> None:
    data = tmp_path / "data"
    first = downloader(client, data).fetch(server.url + "/file.zip")
    assert first is not None
    before = files_under(data)
    count = len(server.requests)
    assert downloader(client, data).fetch(server.url + "/file.zip", first.validators) is None
    assert len(server.requests) == count + 1
    last = server.requests[-1]
    assert last.headers["if-none-match"] == first.validators.etag
    assert last.headers["if-modified-since"] == first.validators.last_modified
    assert files_under(data) == before


def test_if_modified_since_alone_is_honoured(
    tmp_path: Path, endpoint: BulkFileEndpoint, server: ReplicaServer, client: httpx.Client
) -> None:
    previous = Validators(last_modified=endpoint.last_modified)
    assert downloader(client, tmp_path).fetch(server.url + "/f.zip", previous) is None


def test_dropped_connection_fails_cleanly_without_partial_files(
    tmp_path: Path, endpoint: BulkFileEndpoint, server: ReplicaServer, client: httpx.Client
) -> None:
    endpoint.inject("drop")
    data = tmp_path / "data"
    with pytest.raises(TransientError, match="peer closed connection"):
        downloader(client, data).fetch(server.url + "/file.zip")
    assert files_under(data) == []


def test_dropped_connection_resumes_with_a_range_request(
    tmp_path: Path, payload: Path, endpoint: BulkFileEndpoint, server: ReplicaServer,
    client: httpx.Client,
) -> None:  # fmt: skip
    endpoint.inject("drop")
    result = downloader(client, tmp_path, attempts=2).fetch(server.url + "/file.zip")
    assert result is not None
    assert result.path.read_bytes() == payload.read_bytes()
    resumed = server.requests[-1]
    start = int(resumed.headers["range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= endpoint.size // 2
    assert resumed.headers["if-range"] == endpoint.etag


def test_server_error_is_retried(
    tmp_path: Path, endpoint: BulkFileEndpoint, server: ReplicaServer, client: httpx.Client
) -> None:
    endpoint.inject("5xx")
    waits: list[float] = []
    result = downloader(client, tmp_path, attempts=2, sleep=waits.append).fetch(
        server.url + "/file.zip"
    )
    assert result is not None
    assert len(waits) == 1


def test_server_error_on_every_attempt_is_transient(
    tmp_path: Path, endpoint: BulkFileEndpoint, server: ReplicaServer, client: httpx.Client
) -> None:
    endpoint.inject("5xx", times=3)
    with pytest.raises(TransientError, match="HTTP 503"):
        downloader(client, tmp_path, attempts=3).fetch(server.url + "/file.zip")


def test_not_found_is_fatal(tmp_path: Path, client: httpx.Client) -> None:
    with (
        ReplicaServer(lambda _: ReplicaResponse(status=404, body=b"no")) as running,
        pytest.raises(FatalError, match="HTTP 404"),
    ):
        downloader(client, tmp_path, attempts=3).fetch(running.url + "/missing.zip")
    assert files_under(tmp_path) == []


def test_long_retry_after_is_reported_as_throttling(tmp_path: Path, client: httpx.Client) -> None:
    def handler(_: ReplicaRequest) -> ReplicaResponse:
        return ReplicaResponse(status=429, headers={"Retry-After": "3600"})

    with ReplicaServer(handler) as running, pytest.raises(ThrottledError) as caught:
        downloader(client, tmp_path, max_wait_seconds=60).fetch(running.url + "/f.zip")
    assert caught.value.wait_seconds == 3600


def test_size_cap_refuses_a_larger_file(
    tmp_path: Path, server: ReplicaServer, client: httpx.Client
) -> None:
    data = tmp_path / "data"
    with pytest.raises(FatalError, match="over max_download_bytes"):
        downloader(client, data, max_bytes=1000).fetch(server.url + "/file.zip")
    assert files_under(data) == []


def test_size_cap_holds_without_content_length(tmp_path: Path, client: httpx.Client) -> None:
    def handler(_: ReplicaRequest) -> ReplicaResponse:
        return ReplicaResponse(body=iter([b"x" * 4096] * 4))

    with ReplicaServer(handler) as running, pytest.raises(FatalError):
        downloader(client, tmp_path, max_bytes=10_000).fetch(running.url + "/f.zip")
    assert files_under(tmp_path) == []


def test_truncated_zip_is_a_clear_error(
    tmp_path: Path, endpoint: BulkFileEndpoint, server: ReplicaServer, client: httpx.Client
) -> None:
    endpoint.inject("truncated")
    result = downloader(client, tmp_path).fetch(server.url + "/file.zip")
    assert result is not None
    with pytest.raises(CorruptArchiveError, match=r"not a readable zip.*truncated"):
        BulkArchive(result.path)


# --- zip members ----------------------------------------------------------------------------


def make_zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


@pytest.mark.parametrize(
    "name",
    ["../evil.csv", "a/../../evil.csv", "/etc/passwd", "..\\evil.csv", "C:\\evil.csv", ".."],
)
def test_escaping_member_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafeArchiveError, match="escapes the target directory"):
        check_member_name(name)
    path = make_zip(tmp_path / "slip.zip", {"ok.csv": b"a\n1\n", name: b"x"})
    with pytest.raises(UnsafeArchiveError):
        BulkArchive(path)


@pytest.mark.parametrize("name", ["data.csv", "folder/data.csv", "a/./b/data.csv"])
def test_ordinary_member_names_pass(name: str) -> None:
    check_member_name(name)


def test_members_are_found_by_base_name(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "b.zip", {"bundle/x.csv": b"a\n", "y.csv": b"b\n"})
    with BulkArchive(path) as archive:
        members = archive.members()
        assert sorted(members) == ["x.csv", "y.csv"]
        with archive.open(members["x.csv"]) as stream:
            assert stream.read() == b"a\n"


def test_same_base_name_twice_is_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "d.zip", {"a/x.csv": b"1", "b/x.csv": b"2"})
    with BulkArchive(path) as archive, pytest.raises(UnsafeArchiveError, match="two members"):
        archive.members()


def test_zip_bomb_ratio_is_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "bomb.zip", {"bomb.csv": b"0" * (20 << 20)})
    with BulkArchive(path) as archive:
        info = archive.members()["bomb.csv"]
        with pytest.raises(UnsafeArchiveError, match="zip bomb"), archive.open(info):
            pass


def test_oversized_member_is_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "big.zip", {"big.csv": b"x" * 5000}, zipfile.ZIP_STORED)
    with BulkArchive(path, ZipLimits(max_member_bytes=4096)) as archive:
        info = archive.members()["big.csv"]
        with pytest.raises(UnsafeArchiveError, match="over the limit"), archive.open(info):
            pass


def test_damaged_member_is_a_corrupt_archive(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "crc.zip", {"x.csv": b"abcdefgh" * 1000}, zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    offset = raw.index(b"abcdefgh")
    raw[offset : offset + 4] = b"ZZZZ"
    path.write_bytes(bytes(raw))
    with (
        BulkArchive(path) as archive,
        pytest.raises(CorruptArchiveError, match="damaged"),
        archive.open(archive.members()["x.csv"]) as stream,
    ):
        stream.read()
