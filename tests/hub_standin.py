"""A stand-in for the Hugging Face hub on 127.0.0.1, for the tests: the URLs, status codes and headers that
huggingface_hub and transformers (the versions requirements.txt pins) use to look up and download a model.
A build reaches it through HF_ENDPOINT; nothing here listens on any address but loopback.

What it speaks, as the real hub does (huggingface_hub/file_download.py, hf_api.py, utils/_http.py):
- GET /api/models/<repo>[/revision/<rev>]: the model's info: "sha" (the commit), "gated", "private",
  "siblings" (with each file's size and blob id, and the LFS sha256 of large files, when asked ?blobs=true).
- GET /api/models/<repo>/tree/<rev>[/<folder>][?recursive=true]: the files (type, oid, size, path; lfs for
  large ones) and folders; a folder that is not there is 404 with X-Error-Code: EntryNotFound.
- HEAD and GET /<repo>/resolve/<rev>/<file>: X-Repo-Commit and ETag (the git blob id, quoted); a weights file is
  kept in LFS: a 302 to a CDN on another host name (localhost, which the client does not follow for HEAD) with
  X-Linked-Etag (its sha256) and X-Linked-Size.
- Errors as X-Error-Code (and X-Error-Message) headers with a JSON body: to an anonymous request an unknown or
  private repo is 401 RepoNotFound alike (404 once a token is sent), a file of a gated repo is 401 GatedRepo
  (403 with a token that has no access); a gated repo's info is public, with "gated": "manual"; a missing file
  is 404 EntryNotFound, an unknown revision 404 RevisionNotFound.
- Authorization: Bearer <token>: TOKEN is a token with access to every repo here.

Modes, for the network failing: "serve" (the default), "drop" (every connection is closed without an answer),
"stall" (every request is read and never answered, as a captive portal or a dead proxy does) and "stall-files"
(the API answers, file downloads stall). A stalled handler gives up by itself after STALL_LIMIT seconds, and at
once when the server stops.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

TOKEN = "hf_standin_token_with_access"
LFS_SUFFIXES = (".safetensors", ".bin", ".h5", ".msgpack", ".onnx")
STALL_LIMIT = 120.0  # seconds a stalled request is held at most


@dataclass
class Repo:
    files: dict[str, bytes]
    gated: bool = False
    private: bool = False
    sha: str = field(default="")

    def __post_init__(self):
        if not self.sha:
            digest = hashlib.sha1()
            for name in sorted(self.files):
                digest.update(name.encode() + b"\0" + self.files[name])
            self.sha = digest.hexdigest()

    @classmethod
    def from_folder(cls, folder: Path, **kwargs) -> "Repo":
        return cls({str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()},
                   **kwargs)


def client_env(endpoint: str, **extra) -> dict:
    """The environment of a user online, for a subprocess: this process's, without HF_HUB_OFFLINE (conftest sets
    it), a token or a cache folder of its own (give HF_HOME or HOME in `extra`), and HF_ENDPOINT on `endpoint`."""
    drop = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HOME", "HF_HUB_CACHE",
            "XDG_CACHE_HOME", "HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT")
    return dict({k: v for k, v in os.environ.items() if k not in drop}, HF_ENDPOINT=endpoint, **extra)


def blob_id(data: bytes) -> str:
    """git's object id of a file: what the hub calls a file's oid and sends as its ETag."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(name: str) -> bool:
    return name.endswith(LFS_SUFFIXES)


class Hub:
    """`with Hub({"org/name": Repo(...)}) as hub:` serves them at hub.url; hub.requests logs what was asked."""

    def __init__(self, repos: dict[str, Repo]):
        self.repos = repos
        self.mode = "serve"
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self._stop = threading.Event()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub._handle(self, head=True)

            def do_GET(self):
                hub._handle(self, head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.cdn = f"http://localhost:{self.port}/cdn"  # another host name: HEAD does not follow it
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Hub":
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self) -> None:
        """Stops listening: the port refuses connections from now on."""
        if self._stop.is_set():
            return
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    # --- the protocol ---

    def _handle(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        self.requests.append((h.command, h.path))
        if self.mode == "drop":
            h.close_connection = True
            h.connection.close()  # no status line: the client sees the connection closed
            return
        if self.mode == "stall" or (self.mode == "stall-files" and "/resolve/" in h.path):
            self._stop.wait(STALL_LIMIT)
            h.close_connection = True
            return
        url = urlsplit(h.path)
        path, query = unquote(url.path), parse_qs(url.query)
        authorised = h.headers.get("Authorization") == f"Bearer {TOKEN}"
        token_sent = h.headers.get("Authorization") is not None
        if path.startswith("/cdn/"):
            return self._cdn(h, path.removeprefix("/cdn/"), head)
        if path == "/api/agent-harnesses":  # huggingface_hub asks once a day, to name a coding agent in its user agent
            return self._json(h, {"standardEnvVars": [], "harnesses": {}})
        m = re.fullmatch(r"/api/models/(?P<repo>[^/]+(?:/[^/]+)?)(?:/revision/(?P<rev>[^/]+))?", path)
        if m and h.command == "GET":
            repo = self._repo(h, m["repo"], authorised, token_sent, files=False)
            if repo and self._revision(h, repo, m["rev"] or "main"):
                return self._json(h, self._info(m["repo"], repo, blobs="true" in query.get("blobs", [])))
            return
        m = re.fullmatch(r"/api/models/(?P<repo>[^/]+(?:/[^/]+)?)/tree/(?P<rev>[^/]+)(?:/(?P<folder>.+?))?/?", path)
        if m and h.command == "GET":
            repo = self._repo(h, m["repo"], authorised, token_sent, files=False)
            if repo and self._revision(h, repo, m["rev"]):
                return self._tree(h, m["repo"], repo, m["rev"], (m["folder"] or "").strip("/"),
                                  "true" in query.get("recursive", []))
            return
        m = re.fullmatch(r"/(?P<repo>[^/]+(?:/[^/]+)?)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", path)
        if m:
            repo = self._repo(h, m["repo"], authorised, token_sent, files=True)
            if repo and self._revision(h, repo, m["rev"]):
                return self._resolve(h, repo, m["file"], head)
            return
        self._error(h, 404, "", "Not Found")

    def _repo(self, h, name: str, authorised: bool, token_sent: bool, files: bool) -> Repo | None:
        repo = self.repos.get(name)
        if repo is None or (repo.private and not authorised):
            # the hub does not tell a private repo from a missing one
            self._error(h, 404 if token_sent else 401, "RepoNotFound", "Repository not found")
            return None
        if repo.gated and files and not authorised:
            self._error(h, 403 if token_sent else 401, "GatedRepo",
                        f"Access to model {name} is restricted. You must have access to it and be authenticated "
                        "to access it. Please log in.")
            return None
        return repo

    def _revision(self, h, repo: Repo, rev: str) -> bool:
        if rev in ("main", repo.sha):
            return True
        self._error(h, 404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return False

    def _info(self, name: str, repo: Repo, blobs: bool) -> dict:
        siblings = []
        for path, data in sorted(repo.files.items()):
            entry = {"rfilename": path}
            if blobs:
                entry.update(blobId=blob_id(data), size=len(data))
                if is_lfs(path):
                    entry["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            siblings.append(entry)
        return {"_id": repo.sha[:24], "id": name, "modelId": name,
                "author": name.split("/")[0] if "/" in name else None,
                "sha": repo.sha, "lastModified": "2024-01-01T00:00:00.000Z", "createdAt": "2024-01-01T00:00:00.000Z",
                "private": repo.private, "gated": "manual" if repo.gated else False, "disabled": False,
                "downloads": 0, "likes": 0, "library_name": "transformers", "pipeline_tag": "fill-mask",
                "tags": ["transformers", "safetensors", "fill-mask"], "siblings": siblings}

    def _tree(self, h, name: str, repo: Repo, rev: str, folder: str, recursive: bool) -> None:
        prefix = folder + "/" if folder else ""
        paths = [p for p in sorted(repo.files) if p.startswith(prefix)]
        if folder and not paths:
            return self._error(h, 404, "EntryNotFound", f"{folder} does not exist on \"{rev}\"")
        entries, folders = [], set()
        for path in paths:
            rest = path[len(prefix):].split("/")
            for depth in range(1, len(rest)):  # the folders on the way
                sub = prefix + "/".join(rest[:depth])
                if (recursive or depth == 1) and sub not in folders:
                    folders.add(sub)
                    entries.append({"type": "directory", "oid": blob_id(sub.encode()), "size": 0, "path": sub})
            if recursive or len(rest) == 1:
                data = repo.files[path]
                entry = {"type": "file", "oid": blob_id(data), "size": len(data), "path": path}
                if is_lfs(path):
                    entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
                entries.append(entry)
        self._json(h, entries)

    def _resolve(self, h, repo: Repo, name: str, head: bool) -> None:
        data = repo.files.get(name)
        if data is None:
            return self._error(h, 404, "EntryNotFound", f"{name} does not exist on \"main\"")
        h.send_response(302 if is_lfs(name) else 200)
        h.send_header("X-Repo-Commit", repo.sha)
        if is_lfs(name):
            sha256 = hashlib.sha256(data).hexdigest()
            h.send_header("X-Linked-Etag", f'"{sha256}"')
            h.send_header("X-Linked-Size", str(len(data)))
            h.send_header("ETag", f'"{blob_id(data)}"')
            h.send_header("Location", f"{self.cdn}/{sha256}")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        h.send_header("ETag", f'"{blob_id(data)}"')
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if not head:
            h.wfile.write(data)

    def _cdn(self, h, sha256: str, head: bool) -> None:
        data = next((d for r in self.repos.values() for d in r.files.values()
                     if hashlib.sha256(d).hexdigest() == sha256), None)
        if data is None:
            return self._error(h, 404, "", "Not Found")
        h.send_response(200)
        h.send_header("ETag", f'"{sha256}"')
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if not head:
            h.wfile.write(data)

    def _json(self, h, value) -> None:
        body = json.dumps(value).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)

    def _error(self, h, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        h.send_response(status)
        if code:
            h.send_header("X-Error-Code", code)
        h.send_header("X-Error-Message", message)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)
