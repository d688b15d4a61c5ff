"""A minimal Chrome DevTools Protocol client over aiohttp: enough to drive a
headless Chromium page (navigate, evaluate, wait) without a WebDriver package."""
from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional

import aiohttp

REPO = Path(__file__).resolve().parents[2]


def find_chromium(install: bool = True) -> Optional[str]:
    """The browser, installed with scripts/ensure-chromium.sh if missing (and allowed)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if install:
        subprocess.run(["bash", str(REPO / "scripts" / "ensure-chromium.sh")], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
        return find_chromium(install=False)
    return None


class CdpError(RuntimeError):
    pass


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: Dict[int, asyncio.Future] = {}
        self.console: list = []
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            fut = self.pending.pop(data.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(data)
            elif data.get("method") == "Runtime.exceptionThrown":
                self.console.append(data["params"]["exceptionDetails"].get("text"))

    async def send(self, method: str, **params: Any) -> Dict[str, Any]:
        i = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.pending[i] = fut
        await self.ws.send_str(json.dumps({"id": i, "method": method, "params": params}))
        data = await asyncio.wait_for(fut, 30)
        if "error" in data:
            raise CdpError(f"{method}: {data['error']}")
        return data.get("result", {})

    async def eval(self, expression: str) -> Any:
        r = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise CdpError(f"{expression[:80]}: {r['exceptionDetails'].get('exception', {}).get('description')}")
        return r.get("result", {}).get("value")

    async def wait(self, expression: str, timeout: float = 10.0, what: str = "") -> Any:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            try:
                value = await self.eval(expression)
            except CdpError:
                value = None
            if value:
                return value
            if loop.time() > end:
                raise AssertionError(f"timed out waiting for {what or expression}")
            await asyncio.sleep(0.1)

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await asyncio.sleep(0.2)
        await self.wait("document.readyState === 'complete'", what=f"load {url}")

    async def reload(self) -> None:
        await self.send("Page.reload")
        await asyncio.sleep(0.3)
        await self.wait("document.readyState === 'complete'", what="reload")


class Browser:
    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.proc: Optional[asyncio.subprocess.Process] = None
        self.session: Optional[aiohttp.ClientSession] = None
        self.profile = tempfile.mkdtemp(prefix="xiaoer-chromium-")
        self.port = 0
        self.pages: list = []

    async def start(self) -> None:
        args = [self.binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--remote-debugging-port=0",
                "--remote-allow-origins=*", f"--user-data-dir={self.profile}", "about:blank"]
        self.proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.DEVNULL,
                                                         stderr=asyncio.subprocess.PIPE,
                                                         env=dict(os.environ, LANG="zh_CN.UTF-8"))
        async def port() -> int:
            while True:
                line = (await self.proc.stderr.readline()).decode(errors="replace")
                if not line:
                    raise CdpError("chromium exited before DevTools was listening")
                m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
                if m:
                    return int(m.group(1))
        self.port = await asyncio.wait_for(port(), 30)
        self.session = aiohttp.ClientSession()

    async def new_page(self) -> Page:
        async with self.session.put(f"http://127.0.0.1:{self.port}/json/new?about:blank") as r:
            target = await r.json(content_type=None)
        ws = await self.session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        page = Page(ws)
        self.pages.append(page)
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        return page

    async def close(self) -> None:
        for page in self.pages:
            await page.ws.close()
            page.reader.cancel()
        if self.session:
            await self.session.close()
        if self.proc and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except asyncio.TimeoutError:
                self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)
