"""How long shoppers wait while a trainer activates a model (PUT /model).

    .venv/bin/python benchmarks/trainer_model_swap.py [--model models/current.tar.gz] [--to B.tar.gz]

Starts its own Rasa server (`python -m xiaoer.serve rasa`, secrets in a
temporary folder, a spare loopback port) with --model, then sends one
/model/parse every 50 ms from a second thread: first for 10 s with nothing
else going on (the baseline), then while the desk's activation call swaps in
--to (default: the same archive again) through Rasa's model API. Prints the
PUT's duration and the longest wait of a parse in each phase.

Measured 2026-12-02 on the 2-core machine (load ~7 from other work), the shop's model:
    baseline (no swap)  parses 158  p50 11 ms  longest wait  0.1 s
    PUT /model current.tar.gz: 204 in 22.9 s
    during PUT /model   parses  30  p50 15 ms  longest wait 22.9 s
Rasa 3.6 loads the model inside the request, on its event loop: nobody gets an answer meanwhile.
Again 2026-12-02 06:00 UTC (load ~5), TensorFlow deferred (xiaoer/lazy_imports.py) among the day's changes:
    baseline (no swap)  parses 162  p50 11 ms  longest wait  0.0 s
    PUT /model current.tar.gz: 204 in 1.4 s
    during PUT /model   parses  33  p50 10 ms  longest wait  1.4 s
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from services import free_port, send_json, solo_rasa_stores, wait_http  # noqa: E402  (benchmarks/services.py)


def call(url: str, body: dict, method: str = "POST", timeout: float = 300.0) -> int:
    return send_json(url, body, timeout=timeout, method=method)[0]


def parse_loop(url: str, stop: threading.Event, waits: list) -> None:
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            call(url, {"text": "能开发票吗"}, timeout=120)
        except OSError:
            pass
        waits.append(time.monotonic() - t0)
        time.sleep(0.05)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(ROOT / "models" / "current.tar.gz"))
    p.add_argument("--to", help="the archive to activate (default: --model again)")
    a = p.parse_args()
    to = str(Path(a.to or a.model).resolve())
    tmp = Path(tempfile.mkdtemp(prefix="swap-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not (k.startswith("XIAOER_") and k.endswith("_SECRET"))}
    env.update(
        PYTHONPATH=str(ROOT),
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        XIAOER_SECRETS_DIR=str(tmp / "secrets"),
        XIAOER_RASA_PORT=str(port),
        XIAOER_MODEL=a.model,
        XIAOER_ACTION_URL=f"http://127.0.0.1:{free_port()}/webhook",
        **solo_rasa_stores(tmp / "tracker.db"),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "xiaoer.serve", "rasa"],
        cwd=ROOT,
        env=env,
        stdout=open(tmp / "rasa.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        t0 = time.monotonic()
        try:
            wait_http(base + "/", 300, proc, tmp / "rasa.log")
        except RuntimeError as e:
            print(e, file=sys.stderr)
            return 1
        token = (tmp / "secrets" / "rasa_api").read_text().strip()
        parse_url = f"{base}/model/parse?token={token}"
        call(parse_url, {"text": "你好"})
        print(f"Rasa up after {time.monotonic() - t0:.1f} s")
        for phase in ("baseline (no swap)", "during PUT /model"):
            waits: list = []
            stop = threading.Event()
            th = threading.Thread(target=parse_loop, args=(parse_url, stop, waits))
            th.start()
            if phase.startswith("baseline"):
                time.sleep(10)
            else:
                time.sleep(1)
                t1 = time.monotonic()
                status = call(f"{base}/model?token={token}", {"model_file": to}, method="PUT")
                print(f"PUT /model {Path(to).name}: {status} in {time.monotonic() - t1:.1f} s")
                time.sleep(1)
            stop.set()
            th.join()
            waits.sort()
            print(
                f"{phase:<22} parses {len(waits):>4}  p50 {waits[len(waits) // 2] * 1000:7.0f} ms"
                f"  longest wait {waits[-1]:6.1f} s"
            )
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
