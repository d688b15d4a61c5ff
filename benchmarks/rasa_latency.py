"""Training time, model size, NLU parse and bot reply latency.

    make bench                                   # uses models/current.tar.gz
    .venv/bin/python benchmarks/rasa_latency.py --train   # also times a clean training run

Starts its own action server and Rasa server on spare ports (the running
`make run` is not disturbed), sends N sequential development-set messages to
/model/parse and to the REST webhook, prints p50/p95 and stops the servers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: dict, timeout: float = 30.0):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def wait(url: str, seconds: int) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not come up within {seconds} s")


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def dev_messages(n: int):
    sys.path.insert(0, str(ROOT))
    import yaml

    data = yaml.safe_load((ROOT / "tests/nlu/dev.yml").read_text(encoding="utf-8"))
    import re

    texts = []
    for block in data["nlu"]:
        for line in block["examples"].splitlines():
            line = line.strip()
            if line.startswith("- "):
                texts.append(re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", line[2:]))
    return [texts[i % len(texts)] for i in range(n)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(ROOT / "models/current.tar.gz"))
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--train", action="store_true", help="time a clean training run first (6-10 min)")
    args = ap.parse_args()
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
    )
    tmp = Path(tempfile.mkdtemp(prefix="xiaoer-bench-"))
    model = args.model
    print("xiaoer benchmark:", " ".join(sys.argv))
    if args.train:
        env_train = dict(env, RASA_CACHE_DIRECTORY=str(tmp / "cache"))
        t0 = time.perf_counter()
        subprocess.run(
            [str(VENV_BIN / "rasa"), "train", "--domain", "domain", "--out", str(tmp), "--fixed-model-name", "bench"],
            cwd=ROOT,
            env=env_train,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        print(f"training wall time (clean cache): {time.perf_counter() - t0:.0f} s")
        model = str(tmp / "bench.tar.gz")
    print(f"model size: {os.path.getsize(model) / 1e6:.1f} MB ({model})")

    rasa_port, action_port = free_port(), free_port()
    env_run = dict(
        env,
        XIAOER_ACTION_URL=f"http://127.0.0.1:{action_port}/webhook",
        XIAOER_TRACKER_DIALECT="sqlite",
        XIAOER_TRACKER_URL=f"sqlite:///{tmp / 'tracker.db'}",
        XIAOER_SHOP_DB_URL=f"sqlite+aiosqlite:///{tmp / 'shop.db'}",
    )
    procs = [
        subprocess.Popen(
            [str(VENV_BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", str(action_port)],
            cwd=ROOT,
            env=env_run,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [
                str(VENV_BIN / "rasa"),
                "run",
                "--model",
                model,
                "--port",
                str(rasa_port),
                "--interface",
                "127.0.0.1",
                "--enable-api",
                "--endpoints",
                "endpoints.yml",
                "--credentials",
                "credentials.yml",
            ],
            cwd=ROOT,
            env=env_run,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        t0 = time.perf_counter()
        wait(f"http://127.0.0.1:{action_port}/health", 120)
        wait(f"http://127.0.0.1:{rasa_port}/", 300)
        print(f"server start-up incl. model load: {time.perf_counter() - t0:.0f} s")
        messages = dev_messages(args.messages)
        base = f"http://127.0.0.1:{rasa_port}"
        post(f"{base}/model/parse", {"text": "你好"})  # warm-up
        parse = []
        for text in messages:
            t = time.perf_counter()
            post(f"{base}/model/parse", {"text": text})
            parse.append((time.perf_counter() - t) * 1000)
        replies, empty = [], 0
        for i, text in enumerate(messages):
            t = time.perf_counter()
            out = post(
                f"{base}/webhooks/rest/webhook",
                {"sender": f"bench-{i // 10}", "message": text, "metadata": {"buyer_id": "buyer_001"}},
            )
            replies.append((time.perf_counter() - t) * 1000)
            empty += not out
        print(
            f"NLU parse latency ({len(parse)} sequential /model/parse): "
            f"p50 {statistics.median(parse):.0f} ms, p95 {pct(parse, 95):.0f} ms"
        )
        print(
            f"bot reply latency ({len(replies)} sequential REST webhook messages, 10 per conversation): "
            f"p50 {statistics.median(replies):.0f} ms, p95 {pct(replies, 95):.0f} ms, empty replies {empty}"
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
