"""The Node.js HTTP service (examples/node/server.js) agrees with Python, refuses bad requests and stays up.

Starts `node server.js MODEL_DIR --port 0` on localhost, compares its answers with `rnnexport classify --runtime
torch`, sends malformed requests on purpose, stops it with SIGTERM in the middle of a request, and loads it with
examples/node/load_test.js (20,000 requests of 1-64 names at concurrency 32; zero errors, memory flat).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import shutil
import signal
import socket
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
)

pytestmark = pytest.mark.embed

SERVER = NODE_DIR / "server.js"
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
    predictions = answer["predictions"]
    assert [p["name"] for p in predictions] == names
    assert all(len(p["top"]) in (0, top_k) for p in predictions)
    assert_top_k_matches_python(names, predictions, _model_dir())
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
    "top_k null": ("POST", "/classify", b'{"names": ["Smith"], "top_k": null}', "application/json", 400, "got null"),
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


def raw_exchange(url: str, data: bytes) -> bytes:
    """Everything the service answers to raw bytes sent on a new connection, until it closes or goes quiet."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as connection:
        connection.sendall(data)
        answer = b""
        with contextlib.suppress(TimeoutError):
            while chunk := connection.recv(65536):
                answer += chunk
        return answer


@pytest.mark.parametrize("target", ["//", "//[", "http://[::1", "//a:b:c", "//%", "http://x:99999/", "*", "a?b"])
def test_any_request_target_gets_a_4xx_and_the_service_stays_up(service, target):
    """Request targets that are not plain paths (`curl host//` sends `GET //`): a JSON 4xx, never a crash."""
    answer = raw_exchange(service, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert re.match(rb"HTTP/1\.1 4\d\d ", head), answer
    assert "use POST /classify" in json.loads(body)["error"]
    assert request(service, "GET", "/healthz")[0] == 200


def test_expect_continue_over_the_limit_gets_413_without_continue(service):
    """A client that asks before sending a body over --max-body-bytes gets the 413 at once, no 100 Continue."""
    head = b"POST /classify HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
    answer = raw_exchange(service, head + b"content-length: 2000000\r\nexpect: 100-continue\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413 "), answer
    assert b"100 Continue" not in answer
    small = json.dumps({"names": ["Dvořák"]}).encode()
    answer = raw_exchange(
        service,
        head + b"content-length: %d\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n" % len(small) + small,
    )
    assert answer.startswith(b"HTTP/1.1 100 Continue") and b"HTTP/1.1 200 OK" in answer, answer


def test_name_length_counts_characters(service):
    """--max-name-length (1,000) counts characters (code points), not UTF-16 units: 600 astral letters pass."""
    assert classify(service, ["\U0001d412" * 600])[0] == 200
    status, answer = classify(service, ["\U0001d412" * 1001])
    assert status == 400 and "1001 characters" in answer["error"], answer


def test_clients_that_disconnect_are_not_logged_and_get_no_model_work(node_script):  # noqa: F811
    """Clients that close the connection in the middle of the body or while their names are classified: the
    service stays up and logs nothing (it logged a 5-line stack per disconnect)."""
    with running_server(_model_dir()) as (url, process):
        for _ in range(5):
            raw_exchange_and_close(url, b"content-length: 1000000\r\n\r\n" + b" " * 500_000)
            body = json.dumps({"names": ["\ufdfa" * 1000] * 300}).encode()
            raw_exchange_and_close(url, b"content-length: %d\r\n\r\n" % len(body) + body)
        assert classify(url, ["Dvořák"])[0] == 200
        process.terminate()
        assert process.wait(timeout=30) == 0
        assert process.stderr.read() == b""


def raw_exchange_and_close(url: str, rest: bytes) -> None:
    """A POST /classify whose client sends `rest` (the last headers and a body) and closes at once."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as connection:
        connection.sendall(b"POST /classify HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n" + rest)


ABORT_SCRIPT = """
import { loadModel } from './model.js';
import { classifyNames } from './names.js';
const model = await loadModel(process.argv[1]);
const gone = new AbortController();
gone.abort(new Error('client gone'));
try {
  await classifyNames(model, ['Smith', 'Dvořák'], { signal: gone.signal });
  process.stdout.write('classified');
} catch (error) {
  process.stdout.write(error.message);
}
"""


def test_classify_names_does_no_model_work_once_aborted(node_script):  # noqa: F811
    """The service passes an AbortSignal that fires when the client has gone: no batch runs after that."""
    result = _run(["node", "--input-type=module", "-e", ABORT_SCRIPT, str(_model_dir())], NODE_DIR)
    _check(result, "node classifyNames with an aborted signal")
    assert result.stdout == b"client gone"


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
    [
        (["--port", "x"], 2, "--port"),
        (["--port", "99999"], 2, "0 to 65535"),
        (["--bogus"], 2, "--bogus"),
        ([], 1, "does not exist"),
        (["--host", "999.1.1.1"], 1, "cannot listen on 999.1.1.1:8080"),
    ],
)
def test_bad_command_line_is_refused(node_script, tmp_path, arguments, status, message):  # noqa: F811
    model_dir = str(_model_dir()) if arguments else str(tmp_path / "missing")
    result = _run(["node", str(SERVER), model_dir, *arguments], REPO)
    stderr = result.stderr.decode()
    assert result.returncode == status, stderr
    assert stderr.startswith("server.js: error: ") and message in stderr.splitlines()[0], stderr
    if status == 1:
        assert stderr.count("\n") == 1, f"one line, no stack: {stderr}"


def test_port_in_use_is_one_line(node_script):  # noqa: F811
    with running_server(_model_dir()) as (url, _):
        result = _run(["node", str(SERVER), str(_model_dir()), "--port", str(urlsplit(url).port)], REPO)
    stderr = result.stderr.decode()
    assert result.returncode == 1 and stderr.count("\n") == 1, stderr
    assert stderr.startswith("server.js: error: cannot listen on") and "in use" in stderr, stderr


def test_null_fold_table_is_one_line(node_script, tmp_path):  # noqa: F811
    model_dir = Path(shutil.copytree(_model_dir(), tmp_path / "model"))
    (model_dir / "fold_table.json").write_text("null")
    result = _run(["node", str(SERVER), str(model_dir), "--port", "0", "--no-verify-hash"], REPO)
    stderr = result.stderr.decode()
    assert result.returncode == 1 and stderr.count("\n") == 1, stderr
    assert str(model_dir / "fold_table.json") in stderr and "not a fold table" in stderr, stderr
