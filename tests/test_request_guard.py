"""Specification of the upload bounds (demo.request_guard): per request, per client over a window,
and on disk, in front of a stand-in for Gradio's upload route."""

import os
import time

import pytest
from gradio.route_utils import FnIndexInferError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from core.limits import (
    MAX_FILES_PER_UPLOAD,
    MAX_REQUEST_BODY_BYTES,
    UPLOAD_BYTES_PER_CLIENT,
    UPLOAD_FILES_PER_CLIENT,
    UPLOAD_WINDOW_S,
)
from demo.outputs import OUTPUT_PREFIX
from demo.queue_gate import TRUST_FORWARDED_ENV
from demo.request_guard import BodyCounter, RequestGuard, prune_uploads, stored_uploads


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def store_upload(request):
    """Stands in for Gradio's route: every file part is read and named in the answer."""
    form = await request.form()
    return JSONResponse([item.filename for item in form.getlist("files")])


async def join_queue(request):
    """Stands in for Gradio's queue route: reads the whole body, or does not know the endpoint asked for."""
    body = await request.json()
    if "fn_index" not in body:
        raise FnIndexInferError("Could not infer function index for API name: predict")
    return JSONResponse({"length": len(body["data"][0])})


@pytest.fixture
def guarded(tmp_path, monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.setenv(TRUST_FORWARDED_ENV, "1")
    clock = FakeClock()
    app = Starlette(routes=[Route("/gradio_api/upload", store_upload, methods=["POST"]),
                            Route("/gradio_api/queue/join", join_queue, methods=["POST"])],
                    middleware=[Middleware(RequestGuard, folder=tmp_path, disk_bytes=10_000, clock=clock)])
    return TestClient(app), clock


def upload(client: TestClient, address: str, *files: tuple[str, bytes]):
    return client.post("/gradio_api/upload", files=[("files", file) for file in files],
                       headers={"X-Forwarded-For": address})


def test_a_file_part_marker_cut_between_two_chunks_counts_once():
    counter = BodyCounter()
    for chunk in (b'name="files"; filen', b'ame="a.mid"\r\n', b'xx name="files"; filename="b.mid"'):
        counter.add(chunk)
    assert (counter.files, counter.parts, counter.unnamed, counter.bytes) == (2, 2, 0, 65)


def test_a_client_gets_its_budget_of_files_then_a_reason(guarded):
    client, clock = guarded
    answers = [upload(client, "203.0.113.1", (f"{index}.mid", b"MThd")) for index in range(UPLOAD_FILES_PER_CLIENT + 1)]
    assert [answer.status_code for answer in answers] == [200] * UPLOAD_FILES_PER_CLIENT + [429]
    assert "wait a minute" in answers[-1].text
    assert upload(client, "203.0.113.2", ("other.mid", b"MThd")).status_code == 200, "another client is not affected"
    clock.now += UPLOAD_WINDOW_S + 1
    assert upload(client, "203.0.113.1", ("later.mid", b"MThd")).json() == ["later.mid"], "the window moves on"


def test_bytes_past_the_clients_budget_are_refused_even_without_a_length_header(guarded):
    client, _clock = guarded
    third = UPLOAD_BYTES_PER_CLIENT // 3 + 1
    statuses = [upload(client, "203.0.113.3", (f"{index}.mid", os.urandom(third))).status_code for index in range(3)]
    assert statuses == [200, 200, 429]


def test_too_many_files_in_one_request_are_refused(guarded):
    client, _clock = guarded
    answer = upload(client, "203.0.113.4", *[(f"{index}.mid", b"MThd") for index in range(MAX_FILES_PER_UPLOAD + 1)])
    assert answer.status_code == 413 and f"at most {MAX_FILES_PER_UPLOAD} files" in answer.text


def test_a_file_part_without_a_name_is_refused_with_a_reason_not_a_crash(guarded):
    client, _clock = guarded
    answer = upload(client, "203.0.113.5", ("", b"MThd"))
    assert answer.status_code == 400 and "file name" in answer.text


def test_a_request_body_past_the_limit_is_refused_before_the_app_reads_it(guarded):
    client, _clock = guarded
    small = client.post("/gradio_api/queue/join", json={"fn_index": 0, "data": ["folk"]})
    assert small.json() == {"length": 4}
    large = client.post("/gradio_api/queue/join", json={"fn_index": 0, "data": ["x" * MAX_REQUEST_BODY_BYTES]})
    assert large.status_code == 413 and "at most" in large.text


def test_an_endpoint_the_app_lacks_gets_a_404_with_a_reason(guarded):
    client, _clock = guarded
    answer = client.post("/gradio_api/queue/join", json={"data": []})
    assert answer.status_code == 404 and "predict" in answer.text and "view=api" in answer.text


def test_other_routes_pass_untouched(guarded):
    client, _clock = guarded
    assert client.get("/gradio_api/upload").status_code == 405  # the route's own answer, not the guard's


def test_pruning_removes_the_oldest_uploads_first_and_never_the_apps_outputs(tmp_path):
    outputs = tmp_path / f"{OUTPUT_PREFIX}123"
    outputs.mkdir()
    (outputs / "melody.mid").write_bytes(b"x" * 5000)
    now = time.time()
    for age, name in enumerate(("new", "middle", "old")):
        path = tmp_path / name / f"{name}.mid"
        path.parent.mkdir()
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - age * 100, now - age * 100))
    assert prune_uploads(tmp_path, 2000) == 2000
    assert sorted(path.stem for path in stored_uploads(tmp_path)) == ["middle", "new"]
    assert (outputs / "melody.mid").exists()
