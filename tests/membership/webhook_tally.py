"""A webhook receiver in a process of its own, for tests with many senders: it answers 200 at once
and writes each delivery (its Standard Webhooks headers, body, arrival time, and the process that
sent it) as a
JSON line, for the test to verify and count. Standard library only, so it starts in a blink and
takes no time from the test process.

    python tests/membership/webhook_tally.py OUT_FILE

prints its port on the first line of stdout. The sending process is found through Linux /proc:
the owner, among the parent (the test) and the parent's children, of the socket at the request's
source port.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_lock = threading.Lock()
_owners: dict[str, int] = {}  # socket inode -> pid


def _inodes(port: int, ours: int) -> set[str]:
    """The live sockets from `port` to our port `ours` (closed ones, in TIME_WAIT, have inode 0)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            ends = int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)
            if ends == (port, ours) and inode != "0":
                found.add(inode)
    return found


def _candidates() -> list[int]:
    parent = os.getppid()
    pids = []
    for task in Path(f"/proc/{parent}/task").glob("*/children"):
        pids += [int(p) for p in task.read_text().split()]
    return [p for p in pids if p != os.getpid()] + [parent]


def sender(port: int, ours: int) -> int | None:
    inodes = _inodes(port, ours)
    for inode in inodes:
        if inode in _owners:
            return _owners[inode]
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for pid in _candidates():
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in wanted:
                    _owners.update(dict.fromkeys(inodes, pid))
                    return pid
            except OSError:
                continue
    return None


class Tally(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    out: Path

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)  # shorter when the sender died mid-request
        received = time.time()  # a signature's age is judged at arrival, not when the test reads it
        pid = sender(self.client_address[1], self.server.server_address[1])
        record = {
            "headers": {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("webhook-")},
            "body": base64.b64encode(body).decode(),
            "pid": pid,
            "received": received,
            "cut": len(body) < length,
        }
        with _lock, self.out.open("a") as out:
            out.write(json.dumps(record) + "\n")
        self.send_response(200)
        self.send_header("content-length", "6")
        self.end_headers()
        self.wfile.write(b"thanks")

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    Tally.out = Path(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Tally)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
