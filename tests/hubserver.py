"""A Hugging Face Hub on 127.0.0.1 for tests: the HTTP endpoints huggingface_hub's client calls.

It answers what ``HfApi.create_repo``, ``create_branch`` and ``upload_folder`` send (validate-yaml,
preupload, the ndjson commit) and what ``snapshot_download`` / ``hf_hub_download`` read (revision
info, the recursive tree, HEAD and GET of ``resolve``). Every file is answered as a regular
(non-LFS, non-Xet) upload, so the commit carries the bytes and no storage service is involved. The
client is pointed here with ``endpoint=`` / ``HF_ENDPOINT``; nothing of it is patched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse


@dataclass
class Repo:
    private: bool = False
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit sha
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> {path: content}
    messages: dict[str, str] = field(default_factory=dict)


class FakeHub:
    """``with FakeHub() as hub:`` serves on ``hub.endpoint``; ``hub.repos`` holds what was pushed."""

    def __init__(self, token: str = "hf_test_token") -> None:
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.requests: list[str] = []  # "METHOD path" of every request, in order
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        return repo.commits[repo.branches[revision]]


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet test output
            pass

        # --- plumbing -------------------------------------------------------------------------

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(doc).encode(), {"Content-Type": "application/json", **(headers or {})})

        def _error(self, status: int, message: str, code: str | None = None) -> None:
            headers = {"X-Error-Message": message}
            if code:
                headers["X-Error-Code"] = code
            self._json(status, {"error": message}, headers)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {hub.token}":
                return True
            self._error(401, "Invalid credentials in Authorization header")
            return False

        def _repo(self, repo_id: str) -> Repo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "Repository not found", "RepoNotFound")
            return repo

        def _commit_of(self, repo: Repo, revision: str) -> str | None:
            revision = unquote(revision)
            sha = repo.branches.get(revision) or (revision if revision in repo.commits else None)
            if sha is None:
                self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            return sha

        # --- routes ---------------------------------------------------------------------------

        def do_POST(self) -> None:
            url = urlparse(self.path)
            parts = url.path.strip("/").split("/")
            with hub.lock:
                hub.requests.append(f"POST {url.path}")
                if url.path == "/api/validate-yaml":
                    self._body()
                    return self._json(200, {"errors": [], "warnings": []})
                if not self._authorized():
                    return None
                if url.path == "/api/repos/create":
                    payload = json.loads(self._body())
                    repo_id = f"{payload['organization']}/{payload['name']}"
                    if repo_id in hub.repos:  # the Hub's 409 names the existing repository's URL
                        message = "You already created this model repo"
                        doc = {"error": message, "url": f"{hub.endpoint}/{repo_id}"}
                        return self._json(409, doc, {"X-Error-Message": message})
                    empty = hashlib.sha1(repo_id.encode()).hexdigest()
                    hub.repos[repo_id] = Repo(
                        private=payload.get("visibility") == "private" or bool(payload.get("private")),
                        branches={"main": empty},
                        commits={empty: {".gitattributes": b"*.safetensors filter=lfs\n"}},
                    )
                    return self._json(200, {"url": f"{hub.endpoint}/{repo_id}", "name": repo_id})
                if len(parts) >= 6 and parts[:2] == ["api", "models"]:
                    repo_id, action, rev = f"{parts[2]}/{parts[3]}", parts[4], "/".join(parts[5:])
                    repo = self._repo(repo_id)
                    if repo is None:
                        return None
                    if action == "preupload":
                        files = json.loads(self._body())["files"]
                        return self._json(
                            200,
                            {
                                "files": [
                                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files
                                ]
                            },
                        )
                    if action == "branch":
                        self._body()
                        branch = unquote(rev)
                        if branch not in repo.branches:
                            repo.branches[branch] = repo.branches["main"]
                        return self._json(200, {})
                    if action == "commit":
                        return self._commit(repo_id, repo, unquote(rev))
                return self._error(404, f"no route for POST {url.path}")

        def _commit(self, repo_id: str, repo: Repo, branch: str) -> None:
            lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
            if branch not in repo.branches:
                return self._error(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            files = dict(repo.commits[repo.branches[branch]])
            summary = ""
            for item in lines:
                if item["key"] == "header":
                    summary = item["value"]["summary"]
                elif item["key"] == "file":
                    files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                elif item["key"] in ("deletedFile", "deletedFolder"):
                    files.pop(item["value"]["path"], None)
                else:
                    return self._error(400, f"the test Hub takes regular files only, not {item['key']}")
            sha = hashlib.sha1(repr(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in files.items())).encode())
            oid = sha.hexdigest()
            repo.commits[oid] = files
            repo.messages[oid] = summary
            repo.branches[branch] = oid
            return self._json(200, {"commitUrl": f"{hub.endpoint}/{repo_id}/commit/{oid}", "commitOid": oid})

        def do_GET(self) -> None:
            self._read()

        def do_HEAD(self) -> None:
            self._read()

        def _read(self) -> None:
            url = urlparse(self.path)
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            with hub.lock:
                hub.requests.append(f"{self.command} {url.path}")
                if len(parts) >= 6 and parts[:2] == ["api", "models"] and parts[4] in ("revision", "tree"):
                    repo = self._repo(f"{parts[2]}/{parts[3]}")
                    if repo is None:
                        return None
                    sha = self._commit_of(repo, parts[5])
                    if sha is None:
                        return None
                    files = repo.commits[sha]
                    if parts[4] == "revision":
                        doc = {
                            "id": f"{parts[2]}/{parts[3]}",
                            "sha": sha,
                            "private": repo.private,
                            "siblings": [{"rfilename": name} for name in sorted(files)],
                        }
                        return self._json(200, doc)
                    prefix = "/".join(parts[6:])
                    query = parse_qs(url.query)
                    recursive = query.get("recursive", ["False"])[0].lower() == "true"
                    entries = [
                        {"type": "file", "oid": _blob_id(content), "size": len(content), "path": name}
                        for name, content in sorted(files.items())
                        if name.startswith(prefix) and (recursive or "/" not in name[len(prefix) :].strip("/"))
                    ]
                    return self._json(200, entries)
                if len(parts) >= 5 and parts[2] == "resolve":
                    repo = self._repo(f"{parts[0]}/{parts[1]}")
                    if repo is None:
                        return None
                    sha = self._commit_of(repo, parts[3])
                    if sha is None:
                        return None
                    name = "/".join(parts[4:])
                    content = repo.commits[sha].get(name)
                    if content is None:
                        return self._error(404, "Entry not found", "EntryNotFound")
                    headers = {"X-Repo-Commit": sha, "ETag": f'"{_blob_id(content)}"'}
                    return self._send(200, content, {"Content-Type": "application/octet-stream", **headers})
                return self._error(404, f"no route for {self.command} {url.path}")

    return Handler


def _blob_id(content: bytes) -> str:
    """git's blob id: what the Hub reports as a regular file's oid and ETag."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
