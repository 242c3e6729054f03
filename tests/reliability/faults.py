"""Helpers of the fault suite: a toy dataset manifest, a trickling server, injected OS errors."""

from __future__ import annotations

import collections
import errno
import hashlib
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

PAYLOAD = bytes(range(256)) * 64  # 16 kB


def write_manifest(folder: Path, base_url: str | None = None, data: bytes = PAYLOAD) -> Path:
    """A one-file manifest ``toy.yaml`` (file ``sub/a.bin``; mirror folder ``toyfolder``)."""
    entry = {
        "path": "sub/a.bin",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if base_url is not None:
        entry["url"] = f"{base_url}/a.bin"
    doc = {
        "schema_version": 1,
        "id": "toy",
        "title": "Toy",
        "modality": "text",
        "source": {"type": "http"},
        "access": {"registration_required": False},
        "license": {"spdx": "CC0-1.0", "url": "https://example.org/license"},
        "citation": {"text": "Someone (2024). A toy."},
        "total_size": {"bytes": len(data)},
        "mirror_folder": "toyfolder",
        "subsets": {"starter": {"include": ["**"]}, "full": {"include": ["**"]}},
        "files": [entry],
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "toy.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def write_mirror(folder: Path, data: bytes = PAYLOAD) -> Path:
    (folder / "toyfolder" / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "toyfolder" / "sub" / "a.bin").write_bytes(data)
    return folder


class TricklingServer:
    """Serves ``/a.bin`` one byte every ``interval`` seconds (per-read timeouts never fire)."""

    def __init__(self, data: bytes = PAYLOAD, interval: float = 0.05):
        self.stop = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                start = 0
                value = self.headers.get("Range", "")
                if value.startswith("bytes="):
                    start = int(value[6:].rstrip("-"))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                try:
                    for k in range(start, len(data)):
                        if outer.stop.is_set():
                            return
                        self.wfile.write(data[k : k + 1])
                        self.wfile.flush()
                        time.sleep(interval)
                except (BrokenPipeError, ConnectionResetError):
                    return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> TricklingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


def os_error(code: int, filename: str | None = None) -> OSError:
    """The OSError the kernel's ``code`` gives (PermissionError for EACCES, ...)."""
    return (
        OSError(code, os.strerror(code), filename) if filename else OSError(code, os.strerror(code))
    )


FAULTS = {"disk full": errno.ENOSPC, "read-only": errno.EROFS, "permission denied": errno.EACCES}
FIXES = {errno.ENOSPC: "free space", errno.EROFS: "writable", errno.EACCES: "chmod"}

#: Fuzz cases tried, by target (configs, manifests, ...): the fuzz tests add to it and the
#: suite's summary prints it.
FUZZ_COUNTS: collections.Counter[str] = collections.Counter()
