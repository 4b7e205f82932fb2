"""Real local servers for integration tests, run as subprocesses on free 127.0.0.1 ports.

- ``start_noida_es``: the ``noida-db`` binary (PyPI ``noida-db``) with only its Elasticsearch API enabled
  (it reports itself as Elasticsearch 8.15.3). Its search scans every document (about 0.2 ms per document
  per query), so tests keep their indexes small.
- ``start_chroma``: ``chroma run --path DIR --host 127.0.0.1 --port P`` from the chromadb package.

Each server starts in its own process group (stopped as a group by its id) and, on Linux, dies with the
process that started it, so a killed test run leaves nothing behind. Startup is bounded: a server that
exits or does not answer in time raises ``ServerStartError`` with the end of its log.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence


class ServerStartError(RuntimeError):
    """A test server could not be started; the message says why (and shows the end of its log)."""


@dataclass
class ServerProcess:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the server's process group, then SIGKILL it if it has not exited within ``timeout``."""
        if self.process.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)  # the group this module started (start_new_session)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=timeout)
                return
            except subprocess.TimeoutExpired:
                continue


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: deliver SIGKILL to this child when the test process dies (even by SIGKILL)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _http_get(url: str, timeout: float = 1.0) -> tuple[int, dict[str, str], bytes] | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - local test URL
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers or {}), b""
    except (OSError, ValueError):
        return None


def elasticsearch_ready(url: str) -> bool:
    """The root endpoint answers 200 with ``X-Elastic-Product: Elasticsearch``."""
    answer = _http_get(url.rstrip("/") + "/")
    if answer is None:
        return False
    status, headers, _ = answer
    product = {k.lower(): v for k, v in headers.items()}.get("x-elastic-product")
    return status == 200 and product == "Elasticsearch"


def elasticsearch_version(url: str) -> str:
    answer = _http_get(url.rstrip("/") + "/", timeout=5.0)
    if answer is None or answer[0] != 200:
        return "unknown"
    try:
        return json.loads(answer[2])["version"]["number"]
    except (ValueError, KeyError):
        return "unknown"


def chroma_ready(url: str) -> bool:
    answer = _http_get(url.rstrip("/") + "/api/v2/heartbeat")
    return answer is not None and answer[0] == 200


def _start(
    name: str,
    command: Sequence[str],
    url: str,
    ready: Callable[[str], bool],
    log_path: Path,
    timeout: float,
    env: dict[str, str] | None = None,
) -> ServerProcess:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            env=env,
        )
    server = ServerProcess(name, url, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(
                f"{name} exited with code {process.returncode} before it was ready:\n{server.log_tail()}"
            )
        if ready(url):
            return server
        time.sleep(0.1)
    server.stop()
    raise ServerStartError(f"{name} did not answer at {url} within {timeout:.0f} s:\n{server.log_tail()}")


def _start_on_free_port(start: Callable[[int], ServerProcess], attempts: int = 3) -> ServerProcess:
    """Retry on another port when the chosen one was taken between probing and binding."""
    error: ServerStartError | None = None
    for _ in range(attempts):
        try:
            return start(free_port())
        except ServerStartError as exc:
            error = exc
    assert error is not None
    raise error


def noida_command() -> list[str]:
    """The noida-db binary shipped inside the PyPI package (run directly: one process to stop)."""
    try:
        from importlib.resources import files

        binary = Path(str(files("noida_db").joinpath("noida-db")))
    except (ImportError, ModuleNotFoundError) as exc:
        raise ServerStartError("noida-db is not installed (pip install noida-db)") from exc
    if binary.is_file():
        if not os.access(binary, os.X_OK):
            binary.chmod(0o755)
        return [str(binary)]
    script = shutil.which("noida-db", path=str(Path(sys.executable).parent)) or shutil.which("noida-db")
    if script:
        return [script]
    raise ServerStartError("noida-db is installed but its binary is missing")


def start_noida_es(data_dir: Path, timeout: float = 30.0) -> ServerProcess:
    """noida-db serving only its Elasticsearch API on a free 127.0.0.1 port; data under ``data_dir``."""
    base = noida_command()

    def start(port: int) -> ServerProcess:
        command = [
            *base,
            "start",
            "--data-dir",
            str(data_dir),
            "--host",
            "127.0.0.1",
            "--only",
            "elasticsearch",
            "--elasticsearch-port",
            str(port),
        ]
        return _start(
            "noida-db (Elasticsearch API)",
            command,
            f"http://127.0.0.1:{port}",
            elasticsearch_ready,
            data_dir.parent / f"{data_dir.name}-{port}.log",
            timeout,
        )

    return _start_on_free_port(start)


def chroma_command() -> list[str]:
    script = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if not script:
        raise ServerStartError("the chroma command is not installed (pip install chromadb)")
    return [script]


def start_chroma(data_dir: Path, timeout: float = 60.0) -> ServerProcess:
    """``chroma run`` on a free 127.0.0.1 port, persisting under ``data_dir``."""
    base = chroma_command()
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}

    def start(port: int) -> ServerProcess:
        command = [*base, "run", "--path", str(data_dir), "--host", "127.0.0.1", "--port", str(port)]
        return _start(
            "chroma run",
            command,
            f"http://127.0.0.1:{port}",
            chroma_ready,
            data_dir.parent / f"{data_dir.name}-{port}.log",
            timeout,
            env=env,
        )

    return _start_on_free_port(start)


def streamlit_ready(url: str) -> bool:
    answer = _http_get(url.rstrip("/") + "/_stcore/health")
    return answer is not None and answer[0] == 200


def start_rag_web(home: Path, timeout: float = 90.0, env: dict[str, str] | None = None) -> ServerProcess:
    """``rag web --port P`` (the Streamlit web chat) on a free 127.0.0.1 port, with ``RAG_HOME=home``."""
    rag = shutil.which("rag", path=str(Path(sys.executable).parent)) or shutil.which("rag")
    if not rag:
        raise ServerStartError("the rag command is not installed (pip install -e .)")
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("RAG_") or key.startswith("RAG_TEST_")
    }
    environment.update({"RAG_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    environment.update(env or {})

    def start(port: int) -> ServerProcess:
        return _start(
            "rag web",
            [rag, "web", "--host", "127.0.0.1", "--port", str(port)],
            f"http://127.0.0.1:{port}",
            streamlit_ready,
            home.parent / f"rag-web-{port}.log",
            timeout,
            env=environment,
        )

    return _start_on_free_port(start)
