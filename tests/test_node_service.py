"""The Node.js HTTP service (examples/node/server.js) agrees with Python, refuses bad requests and stays up.

Starts `node server.js MODEL_DIR --port 0` on localhost, compares its answers with `rnnexport classify --runtime
torch`, sends malformed requests on purpose, stops it with SIGTERM in the middle of a request, and loads it with
examples/node/load_test.js (20,000 requests of 1-64 names at concurrency 32; zero errors, memory flat).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .test_embed import (
    NODE_DIR,
    REPO,
    SPECIAL_LINES,
    _check,
    _model_dir,
    _run,
    _sample_names,
    assert_top_k_matches_python,
    node_script,  # noqa: F401 (a fixture: npm ci in examples/node)
    python_top_k,
)

pytestmark = pytest.mark.embed

SERVER = NODE_DIR / "server.js"
ATOL = 1e-5
MIB = 1024 * 1024
# Every alphabet case, accents, scripts the fold table may or may not cover, and names with no letter.
NAMES = [
    *(line for line in SPECIAL_LINES if "\r" not in line),
    *["NGUYỄN", "GARCÍA", "O'NEILL", "Иванов", "Παπαδόπουλος", "李小龍", "محمد", "Yue Tingsong", "ß", "  x  "],
]


@contextlib.contextmanager
def running_server(model_dir: Path, *flags: str):
    """(base URL, process) of a server on a free port; terminated (if still running) on exit."""
    command = ["node", str(SERVER), str(model_dir), "--port", "0", *flags]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = process.stdout.readline().decode()
        if not line.startswith("listening on "):
            process.kill()
            pytest.fail(f"server.js did not start: {line}{process.stderr.read().decode(errors='replace')}")
        yield line.split()[-1], process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def service(node_script):  # noqa: F811 (the fixture imported above)
    with running_server(_model_dir()) as (url, _):
        yield url


def request(url: str, method: str, path: str, body: bytes | None = None, content_type="application/json"):
    """(status, decoded JSON answer) of one request on a new connection."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        headers = {"content-type": content_type} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def classify(url: str, names: list, top_k: int = 3):
    return request(url, "POST", "/classify", json.dumps({"names": names, "top_k": top_k}).encode())


def test_healthz(service):
    status, answer = request(service, "GET", "/healthz")
    assert status == 200
    assert answer["status"] == "ok" and answer["labels"] == 18


@pytest.mark.parametrize("top_k", [1, 3, 18])
def test_predictions_match_python(service, tmp_path, top_k):
    names = _sample_names(300) + NAMES
    status, answer = classify(service, names, top_k)
    assert status == 200, answer
    expected = python_top_k(_model_dir(), names, top_k, tmp_path)
    predictions = answer["predictions"]
    assert [p["name"] for p in predictions] == names
    assert_top_k_matches_python(names, predictions, expected, ATOL)
    assert sum(not p["top"] for p in predictions) >= 5, "the names with no letter get an explicit empty result"


def _many_short_names(count: int) -> bytes:
    return json.dumps({"names": ["Li"] * count}).encode()


BAD_REQUESTS = {
    "malformed JSON": ("POST", "/classify", b'{"names": ["Smith",', "application/json", 400, "malformed JSON"),
    "10 MB body": ("POST", "/classify", b"[" + b" " * (10 * MIB) + b"]", "application/json", 413, "bytes"),
    "non-string names": ("POST", "/classify", b'{"names": ["Smith", 42]}', "application/json", 400, "names[1]"),
    "null name": ("POST", "/classify", b'{"names": [null]}', "application/json", 400, "names[0] is null"),
    "100,000 names": ("POST", "/classify", _many_short_names(100_000), "application/json", 413, "at most 10000"),
    "not an object": ("POST", "/classify", b'["Smith"]', "application/json", 400, "JSON object"),
    "names missing": ("POST", "/classify", b'{"top_k": 3}', "application/json", 400, '"names" must be a list'),
    "unknown field": ("POST", "/classify", b'{"names": [], "topk": 3}', "application/json", 400, "topk"),
    "top_k 0": ("POST", "/classify", b'{"names": ["Smith"], "top_k": 0}', "application/json", 400, "top_k"),
    "top_k text": ("POST", "/classify", b'{"names": ["Smith"], "top_k": "3"}', "application/json", 400, "top_k"),
    "not UTF-8": ("POST", "/classify", b'{"names": ["M\xfcller"]}', "application/json", 400, "UTF-8"),
    "name too long": ("POST", "/classify", b'{"names": ["%s"]}' % (b"a" * 5000), "application/json", 400, "5000"),
    "form body": ("POST", "/classify", b"names=Smith", "application/x-www-form-urlencoded", 415, "application/json"),
    "GET /classify": ("GET", "/classify", None, None, 405, "use POST"),
    "unknown path": ("GET", "/predict", None, None, 404, "/predict"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_gets_4xx_and_the_service_stays_up(service, case):
    method, path, body, content_type, expected_status, message = BAD_REQUESTS[case]
    status, answer = request(service, method, path, body, content_type)
    assert status == expected_status, answer
    assert message in answer["error"], answer
    assert classify(service, ["Dvořák"])[0] == 200
    assert request(service, "GET", "/healthz")[0] == 200


def test_empty_name_list_is_an_empty_answer(service):
    assert classify(service, []) == (200, {"predictions": []})


def test_sigterm_finishes_the_request_in_flight_then_exits(node_script):  # noqa: F811
    with running_server(_model_dir()) as (url, process):
        parts = urlsplit(url)
        body = json.dumps({"names": ["Dvořák"] * 1000}).encode()
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        connection.putrequest("POST", "/classify")
        connection.putheader("content-type", "application/json")
        connection.putheader("content-length", str(len(body)))
        connection.endheaders(body[:100])  # the request is under way: headers and part of the body are in
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        connection.send(body[100:])
        response = connection.getresponse()
        answer = json.loads(response.read())
        assert response.status == 200 and len(answer["predictions"]) == 1000
        assert response.getheader("connection") == "close"
        assert process.wait(timeout=30) == 0
        with pytest.raises(ConnectionError):
            request(url, "GET", "/healthz")


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def _load(url: str, names_file: Path, requests: int, seed: int) -> dict:
    command = ["node", str(NODE_DIR / "load_test.js"), url, str(names_file), "--requests", str(requests)]
    command += ["--concurrency", "32", "--min-names", "1", "--max-names", "64", "--time-limit-s", "300"]
    result = _run([*command, "--seed", str(seed)], REPO)
    _check(result, "load_test.js")
    return json.loads(result.stdout)


@pytest.mark.slow
def test_load_20000_requests_zero_errors_memory_flat(node_script, tmp_path):  # noqa: F811
    """20,000 requests of 1-64 names at concurrency 32 after a 10,000-request warm-up: no error, and the
    resident memory grows by at most 16 MiB over the measured run (the figures go to build/)."""
    names_file = tmp_path / "names.txt"
    names_file.write_text("\n".join(name for name in _sample_names(5000) if name.strip()) + "\n", encoding="utf-8")
    with running_server(_model_dir()) as (url, process):
        warm_up = _load(url, names_file, 10_000, seed=1)
        rss_warm = _rss_bytes(process.pid)
        run = _load(url, names_file, 20_000, seed=2)
        rss_after = _rss_bytes(process.pid)
    report = {"warm_up": warm_up, "run": run, "rss_warm_mib": rss_warm / MIB, "rss_after_mib": rss_after / MIB}
    (REPO / "build").mkdir(exist_ok=True)
    (REPO / "build" / "node-service-load.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    assert warm_up["errors"] == 0 and run["errors"] == 0, report
    assert run["requests"] == 20_000, f"the run stopped at its time limit: {report}"
    assert rss_after - rss_warm <= 16 * MIB, f"memory grew under load: {report}"


@pytest.mark.parametrize(
    ("arguments", "status", "message"),
    [(["--port", "x"], 2, "--port"), (["--bogus"], 2, "--bogus"), ([], 1, "does not exist")],
)
def test_bad_command_line_is_refused(node_script, tmp_path, arguments, status, message):  # noqa: F811
    model_dir = str(_model_dir()) if arguments else str(tmp_path / "missing")
    result = _run(["node", str(SERVER), model_dir, *arguments], REPO)
    assert result.returncode == status
    assert message in result.stderr.decode()
