"""Bounds on what clients may send the app, as ASGI middleware in front of Gradio's routes.

Every POST body other than an upload is kept to MAX_REQUEST_BODY_BYTES (a 50 MB text field is
refused before Gradio parses it). Gradio stores every uploaded file (`POST .../upload`) in its
upload folder for as long as `delete_cache` allows and has no limit per client; `RequestGuard`
keeps:

- one request to MAX_FILES_PER_UPLOAD files and MAX_UPLOAD_REQUEST_BYTES (counted as the body
  streams in, whatever Content-Length says);
- one client address (`demo.queue_gate.client_address`) to UPLOAD_BYTES_PER_CLIENT and
  UPLOAD_FILES_PER_CLIENT in any UPLOAD_WINDOW_S seconds;
- the disk: before and after every upload, the uploads in the folder (everything but the app's
  own output folders) beyond UPLOAD_DISK_BYTES are removed, oldest first.

A refused request gets HTTP 413 (too large for one request), 429 (over the client's upload
budget) or 400 (a file part without a file name), and a call of an endpoint name the app does
not have gets 404, each with a one-line reason where Gradio would answer a bare 500.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Callable

from gradio.route_utils import FnIndexInferError
from gradio.utils import get_upload_folder
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from core.limits import (
    MAX_FILES_PER_UPLOAD,
    MAX_REQUEST_BODY_BYTES,
    MAX_UPLOAD_REQUEST_BYTES,
    UPLOAD_BYTES_PER_CLIENT,
    UPLOAD_DISK_BYTES,
    UPLOAD_FILES_PER_CLIENT,
    UPLOAD_WINDOW_S,
)
from demo.outputs import OUTPUT_PREFIX
from demo.queue_gate import client_address

FILE_PART_MARKER = b'filename="'  # in the header of every part that carries a file
FILES_FIELD_MARKER = b'name="files"'  # in the header of every part of Gradio's upload form
MIB = 2**20


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class BodyCounter:
    """Bytes and file parts of a multipart body seen so far, fed one chunk at a time."""

    def __init__(self) -> None:
        self.bytes = self.files = self.parts = 0
        self._tail = b""  # the end of the last chunk, where a marker may have been cut in two

    def add(self, chunk: bytes) -> None:
        self.bytes += len(chunk)
        joined = self._tail + chunk
        for marker in (FILE_PART_MARKER, FILES_FIELD_MARKER):
            found = joined.count(marker) - self._tail.count(marker)
            if marker is FILE_PART_MARKER:
                self.files += found
            else:
                self.parts += found
        self._tail = joined[-len(FILES_FIELD_MARKER):]

    @property
    def unnamed(self) -> int:
        """Parts of the form that carry no file name (the body read so far)."""
        return max(0, self.parts - self.files)


def stored_uploads(folder: Path) -> list[Path]:
    """Uploaded files in Gradio's upload `folder`, oldest first; the app's output folders are not uploads."""
    if not folder.exists():
        return []
    files = [path for path in folder.rglob("*")
             if path.is_file() and not path.relative_to(folder).parts[0].startswith(OUTPUT_PREFIX)]
    return sorted(files, key=lambda path: path.stat().st_mtime)


def prune_uploads(folder: Path, ceiling: int) -> int:
    """Remove the oldest uploads in `folder` until they hold at most `ceiling` bytes; returns the bytes left."""
    uploads = stored_uploads(folder)
    sizes = [path.stat().st_size for path in uploads]
    total = sum(sizes)
    for path, size in zip(uploads, sizes):
        if total <= ceiling:
            break
        path.unlink(missing_ok=True)
        total -= size
    return total


class RequestGuard:
    """ASGI middleware: the bounds of the module docstring on every POST."""

    def __init__(self, app, folder: Path | str | None = None, disk_bytes: int = UPLOAD_DISK_BYTES,
                 clock: Callable[[], float] = time.monotonic):
        self.app = app
        self.folder = Path(folder if folder is not None else get_upload_folder())
        self.disk_bytes = disk_bytes
        self.clock = clock
        self.spent: dict[str, deque[tuple[float, int, int]]] = defaultdict(deque)  # address -> (time, bytes, files)

    def used(self, address: str) -> tuple[int, int]:
        """Bytes and files `address` uploaded in the last UPLOAD_WINDOW_S seconds."""
        spent = self.spent[address]
        while spent and spent[0][0] < self.clock() - UPLOAD_WINDOW_S:
            spent.popleft()
        return sum(entry[1] for entry in spent), sum(entry[2] for entry in spent)

    def check(self, counter: BodyCounter, before: tuple[int, int], whole: bool = False) -> None:
        """Raise Refused once the body seen so far passes a bound, or, when it is `whole`,
        holds a part without a file name."""
        if whole and counter.unnamed:
            raise Refused(400, "Every uploaded file needs a file name: send it with one.")
        if counter.files > MAX_FILES_PER_UPLOAD or counter.bytes > MAX_UPLOAD_REQUEST_BYTES:
            raise Refused(413, f"One upload may carry at most {MAX_FILES_PER_UPLOAD} files and "
                               f"{MAX_UPLOAD_REQUEST_BYTES // MIB} MB: send fewer or smaller files.")
        if before[0] + counter.bytes > UPLOAD_BYTES_PER_CLIENT or before[1] + counter.files > UPLOAD_FILES_PER_CLIENT:
            raise Refused(429, f"You uploaded more than {UPLOAD_BYTES_PER_CLIENT // MIB} MB or "
                               f"{UPLOAD_FILES_PER_CLIENT} files in the last {UPLOAD_WINDOW_S:.0f} s: "
                               "wait a minute, then try again.")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
        elif scope["path"].endswith("/upload"):
            await self.upload(scope, receive, send)
        else:
            await self.bounded(scope, receive, send)

    async def bounded(self, scope, receive, send) -> None:
        """Any POST but an upload: its body kept to MAX_REQUEST_BODY_BYTES (refused at once when its
        Content-Length says so, else when the body passes it, which FastAPI's parser answers with 400)."""
        too_large = Refused(413, f"A request may carry at most {MAX_REQUEST_BODY_BYTES // 1024} kB: "
                                 "send shorter values.")
        declared = Request(scope).headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_REQUEST_BODY_BYTES:
            await PlainTextResponse(too_large.message, status_code=too_large.status)(scope, receive, send)
            return
        seen = 0

        async def counted_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_REQUEST_BODY_BYTES:
                raise too_large
            return message

        await self.answering_refusals(scope, receive, send, counted_receive)

    async def answering_refusals(self, scope, receive, send, app_receive) -> None:
        """Run the app with `app_receive`; a Refused, or an endpoint name the app lacks, becomes a
        one-line answer if the app has not started its own."""
        started = False

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, app_receive, tracked_send)
        except (Refused, FnIndexInferError) as error:
            if started:
                raise
            status, message = ((error.status, error.message) if isinstance(error, Refused)
                               else (404, f"{error} This app's endpoints are listed at /?view=api."))
            await PlainTextResponse(message, status_code=status)(scope, receive, send)

    async def upload(self, scope, receive, send) -> None:
        """A POST to Gradio's upload route, within the upload bounds."""
        request = Request(scope)
        address = client_address(request)
        before = self.used(address)
        counter = BodyCounter()
        declared = request.headers.get("content-length", "")

        async def counted_receive():
            message = await receive()
            if message["type"] == "http.request":
                counter.add(message.get("body", b""))
                self.check(counter, before, whole=not message.get("more_body", False))
            return message

        try:
            announced = BodyCounter()  # refuse at once what says it is too large
            announced.bytes = int(declared) if declared.isdigit() else 0
            self.check(announced, before)
            prune_uploads(self.folder, max(0, self.disk_bytes - announced.bytes))
            await self.answering_refusals(scope, receive, send, counted_receive)
        except Refused as refused:
            await PlainTextResponse(refused.message, status_code=refused.status)(scope, receive, send)
        finally:
            self.spent[address].append((self.clock(), counter.bytes, counter.files))
        prune_uploads(self.folder, self.disk_bytes)
