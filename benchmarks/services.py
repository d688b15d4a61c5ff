"""What the benchmarks and the tests that start real processes share: a spare port, the
box's load, a process's CPU and memory from /proc, waiting for a port to answer, posting
JSON, one turn over Rasa's REST channel.

    from services import wait_http, rest_turn          # a script under benchmarks/
    from benchmarks.services import wait_http          # a test (pytest's pythonpath is the repository)

Standard library only: the tests import it without the benchmarks' dependencies.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

CHANNEL_HEADER = "X-Xiaoer-Channel-Secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


# ---- processes, from /proc --------------------------------------------------------------------------
def _stat(pid: int) -> List[str]:
    """/proc/<pid>/stat after the command name (field 3, the state, is item 0)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> List[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found


def descendants(pid: int) -> List[int]:
    """pid's children, their children ..., breadth first."""
    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop(0))
        out.extend(kids)
        todo.extend(kids)
    return out


def tree_cpu_seconds(pid: int) -> float:
    """CPU of the process, its reaped children and its live children (a forked Rasa server)."""
    total = sum(int(f) for f in _stat(pid)[11:15])
    for child in children(pid):
        try:
            total += sum(int(f) for f in _stat(child)[11:13])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def _kb(path: str, key: str) -> float:
    for line in Path(path).read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb(pid: int) -> float:
    """Resident set: every page the process maps, shared ones counted in full."""
    return _kb(f"/proc/{pid}/status", "VmRSS:")


def pss_mb(pid: int) -> float:
    """Proportional set: a page shared by k processes counts 1/k (sums to the machine's use)."""
    return _kb(f"/proc/{pid}/smaps_rollup", "Pss:")


def maps_module(pid: int, name: str) -> bool:
    """Whether a shared library whose path contains `name` (e.g. "tensorflow") is mapped."""
    try:
        return name in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()


# ---- HTTP -------------------------------------------------------------------------------------------
def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except Exception:
        return False


def wait_http(
    url: str,
    seconds: float,
    proc: Optional[subprocess.Popen] = None,
    log: Optional[Path] = None,
    since: Optional[float] = None,
    poll: float = 0.1,
) -> float:
    """Wait until GET url answers 200; seconds since `since` (time.monotonic(), default now).
    RuntimeError, with the end of `log`, when `proc` exits first or the time is up."""
    start = time.monotonic() if since is None else since
    deadline = time.monotonic() + seconds
    tail = (lambda: log.read_text(errors="replace")[-3000:]) if log is not None else (lambda: "")
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited {proc.returncode}:\n{tail()}")
        if http_ok(url, 2.0):
            return time.monotonic() - start
        time.sleep(poll)
    raise RuntimeError(f"{url} did not answer in {seconds} s:\n{tail()}")


def send_json(
    url: str, body: object, headers: Optional[Dict[str, str]] = None, timeout: float = 60.0, method: str = "POST"
) -> Tuple[int, object]:
    """(HTTP status, the decoded JSON answer or None for an empty body); urllib's HTTPError
    for a 4xx/5xx."""
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.loads(r.read() or b"null")


def post_json(url: str, body: object, headers: Optional[Dict[str, str]] = None, timeout: float = 60.0):
    """The decoded JSON answer of a POST (None for an empty body)."""
    return send_json(url, body, headers, timeout)[1]


def rest_turn(
    url: str, secret: str, token: str, sender: str, text: str, timeout: float = 60.0
) -> Tuple[str, List[str]]:
    """One shopper message through Rasa's REST channel (our channel secret): the intent Rasa
    recorded for it (its tracker, read with the API token) and the texts the bot said."""
    replies = post_json(
        url + "/webhooks/rest/webhook",
        {"sender": sender, "message": text, "metadata": {"buyer_id": sender}},
        {CHANNEL_HEADER: secret},
        timeout=timeout,
    )
    with urllib.request.urlopen(f"{url}/conversations/{sender}/tracker?token={token}", timeout=30) as r:
        tracker = json.loads(r.read())
    intent = ((tracker.get("latest_message") or {}).get("intent") or {}).get("name")
    return intent, [m["text"] for m in replies or [] if (m.get("text") or "").strip()]


def solo_rasa_stores(tracker_db: object) -> Dict[str, str]:
    """The environment of a Rasa server run alone (a benchmark's, a test's): its tracker in
    SQLite at `tracker_db`, an in-memory lock store (endpoints.yml reads these; the Makefile's
    Redis settings are not needed)."""
    return dict(
        XIAOER_TRACKER_DIALECT="sqlite",
        XIAOER_TRACKER_URL=f"sqlite:///{tracker_db}",
        XIAOER_LOCK_STORE="in_memory",
        XIAOER_LOCK_STORE_HOST="127.0.0.1",
        XIAOER_LOCK_STORE_PORT="6379",
        XIAOER_LOCK_STORE_PASSWORD="",
    )
