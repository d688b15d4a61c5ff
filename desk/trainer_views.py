"""The bot trainer's loop in the desk (issue 14), for the roles `trainer` and
`supervisor`. The business logic is the Rasa-free package trainer/; this
module is its HTTP face, the background jobs and the calls to Rasa's model API.

    GET  /trainer, /trainer.js                the trainer's page
    GET  /api/trainer/meta                    intents, entities, signals (for the pickers)
    GET  /api/trainer/inbox?from=&to=&signal=&intent=&offset=&limit=   ranked conversations, a page
    GET  /api/trainer/conversations/{sid}     every shopper message: ranking, entities, actions; masked
    POST /api/trainer/corrections             {sender_id, turn, intent, entities: [{entity, start, end}]}
    POST /api/trainer/export                  {stories: [sid, ...]} -> data/nlu/reviewed.yml (+ test stories)
    POST /api/trainer/train                   a training run, then the comparison with the live model
                                              (one background job at low priority; one at a time)
    POST /api/trainer/compare                 {model} live model vs candidate, as a background job
    GET  /api/trainer/job                     the current / last job: state, progress, log tail, result
    GET  /api/trainer/models                  candidates, the live model, activation history
    POST /api/trainer/activate                {model} Rasa PUT /model (no restart)
    POST /api/trainer/rollback                back to the model before the last activation
    GET  /api/trainer/responses               the domain's responses (domain/responses/*.yml)
    POST /api/trainer/responses/{name}        {variations: [text...]} guard + placeholder check, then saved
    GET  /api/trainer/report?days=            fallback rate per day, misunderstood messages, intents,
                                              confusion pairs, conversations without a person
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import json
import logging
import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional

import aiohttp
import yaml
from aiohttp import web

from desk.web import CONFIG, DESK, STATIC, agent_required, json_object, jsonr
from trainer import export as texport
from trainer.review import SIGNALS, load_conversations, rank
from trainer.sources import REPO, sync_url, tracker_url
from trainer.store import CorrectionError, CorrectionStore

log = logging.getLogger("xiaoer.desk.trainer")
TRAINER_ROLES = ("trainer", "supervisor")


def low_priority() -> List[str]:
    """nice for the CPU, ionice (idle class) for the disk where the machine has it."""
    import shutil

    prefix = ["nice", "-n", "19"] if shutil.which("nice") else []
    return prefix + (["ionice", "-c", "3"] if shutil.which("ionice") else [])


@dataclass
class TrainerSettings:
    """Where the loop reads and writes; tests point all of it at a temporary folder."""

    repo: Path = REPO
    tracker_url: str = field(default_factory=tracker_url)
    trainer_db_url: Optional[str] = None  # default XIAOER_TRAINER_DB_URL, else the desk's database
    live_model: str = "models/current.tar.gz"  # what "live" means when Rasa cannot say
    candidates: str = "models/candidates"
    # low priority: shoppers' chat keeps its speed while a model trains
    nice: List[str] = field(default_factory=lambda: low_priority())
    train_cmd: Optional[List[str]] = None  # {out} and {name} are filled in
    compare_cmd: Optional[List[str]] = None  # {a} {b} {json} are filled in

    def path(self, p: str) -> Path:
        q = Path(p)
        return q if q.is_absolute() else self.repo / q


TRAINER_SETTINGS = web.AppKey("trainer_settings", TrainerSettings)
TRAINER = web.AppKey("trainer", object)


class Job:
    """A background job: one or more commands run one after the other (a
    training run is `rasa train`, then the comparison with the live model)."""

    def __init__(self, kind: str, steps: List[List[str]], result: Dict[str, Any]) -> None:
        self.kind, self.steps, self.result = kind, steps, result
        self.state = "running"
        self.started = time.time()
        self.finished: Optional[float] = None
        self.lines: List[str] = []
        self.progress = ""
        self.step = 0
        self.returncode: Optional[int] = None
        self.pid: Optional[int] = None  # the running command's process (tests read its nice value)

    def view(self) -> Dict[str, Any]:
        return {
            "kind": self.kind,
            "state": self.state,
            "progress": self.progress,
            "step": self.step + 1,
            "steps": len(self.steps),
            "started": self.started,
            "elapsed": round((self.finished or time.time()) - self.started),
            "log": self.lines[-12:],
            "result": self.result if self.state != "running" else None,
        }


_PROGRESS = re.compile(
    r"(Epochs:\s*\d+%|progress .*|Started validating.*|Starting to train component '\w+'|"
    r"Finished training component '\w+'|Your Rasa model is trained.*)"
)


class Trainer:
    """One job at a time per machine: a file lock (var/trainer_job.lock) that
    also holds against a second desk process, and that the job's own command
    inherits, so a training run left behind by a desk that crashed still
    keeps a second one from starting beside it. The job's state is also written to var/trainer_job.json
    for the other desk processes to show."""

    def __init__(
        self,
        settings: TrainerSettings,
        store: CorrectionStore,
        session: aiohttp.ClientSession,
        rasa_url: str,
        rasa_token: str,
    ) -> None:
        self.settings, self.store, self.session = settings, store, session
        self.rasa_url, self.rasa_token = rasa_url, rasa_token
        # XIAOER_RASA_URL may list several workers (make run starts two): each gets the model
        self.rasa_urls = [u.strip().rstrip("/") for u in rasa_url.split(",") if u.strip()]
        self.job: Optional[Job] = None
        self.task: Optional[asyncio.Task] = None
        self._lockfile = None
        self._written = 0.0

    @property
    def lock_path(self) -> Path:
        return self.settings.path("var/trainer_job.lock")

    @property
    def state_path(self) -> Path:
        return self.settings.path("var/trainer_job.json")

    def busy(self) -> bool:
        return self.job is not None and self.job.state == "running"

    def _take_file_lock(self) -> bool:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.lock_path, "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        self._lockfile = f
        return True

    def lock_held_elsewhere(self) -> bool:
        if self._lockfile is not None:
            return False
        if not self._take_file_lock():
            return True
        self._release()
        return False

    def _release(self) -> None:
        if self._lockfile is not None:
            self._lockfile.close()
            self._lockfile = None

    def _write_state(self, job: Job, force: bool = False) -> None:
        if not force and time.time() - self._written < 1:
            return
        self._written = time.time()
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**job.view(), "pid": os.getpid()}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def shown_job(self) -> Dict[str, Any]:
        """This process's job, or the one another desk process runs or ran."""
        if self.job is not None and (self.busy() or not self.state_path.exists()):
            return self.job.view()
        try:
            other = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return self.job.view() if self.job else {"state": "idle"}
        if self.job is not None and self.job.started >= other.get("started", 0):
            return self.job.view()
        if other.get("state") == "running" and not self.lock_held_elsewhere():
            other["state"] = "interrupted"  # its desk process ended before the job did
        return other

    def start(self, kind: str, steps: List[List[str]], result: Dict[str, Any]) -> Job:
        if self.busy() or not self._take_file_lock():
            raise web.HTTPConflict(text='{"error": "job_running"}', content_type="application/json")
        self.job = Job(kind, steps, result)
        self._write_state(self.job, force=True)
        self.task = asyncio.get_running_loop().create_task(self._run(self.job))
        return self.job

    async def _run(self, job: Job) -> None:
        proc = None
        try:
            for job.step, cmd in enumerate(job.steps):  # noqa: B020 (the step number is the job's progress)
                proc = await asyncio.create_subprocess_exec(
                    *self.settings.nice,
                    *cmd,
                    cwd=str(self.settings.repo),
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                    pass_fds=(self._lockfile.fileno(),),
                    env={
                        **os.environ,
                        "RASA_TELEMETRY_ENABLED": "false",
                        "TF_CPP_MIN_LOG_LEVEL": "2",
                        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
                        "PYTHONPATH": str(REPO),
                    },
                )
                job.pid = proc.pid
                async for raw in _lines(proc.stdout):
                    line = raw.strip()
                    if not line:
                        continue
                    job.lines = (job.lines + [line])[-200:]
                    m = _PROGRESS.search(line)
                    if m:
                        job.progress = m.group(1)
                        self._write_state(job)
                job.returncode = await proc.wait()
                if job.returncode != 0:
                    job.state = "failed"
                    break
                if job.kind == "train" and job.step == 0 and not Path(job.result["model"]).is_file():
                    job.state = "failed"
                    break
            else:
                job.state = "done"
                if "json" in job.result:
                    job.result["report"] = json.loads(Path(job.result["json"]).read_text(encoding="utf-8"))
        except asyncio.CancelledError:  # the desk shuts down: so does its job
            job.state = "failed"
            if proc is not None and proc.returncode is None:
                proc.terminate()
            raise
        except Exception as e:  # the job fails, the desk does not
            log.exception("trainer job failed")
            job.state, job.lines = "failed", job.lines + [f"{type(e).__name__}: {e}"]
        finally:
            job.finished = time.time()
            try:  # before the lock goes: a job another process starts next must not be overwritten
                self._write_state(job, force=True)
            except OSError:
                pass
            self._release()

    # ---- Rasa's model API ----
    def _params(self) -> Dict[str, str]:
        return {"token": self.rasa_token} if self.rasa_token else {}

    async def live_model(self) -> Optional[str]:
        try:
            async with self.session.get(
                f"{self.rasa_urls[0]}/status", params=self._params(), timeout=aiohttp.ClientTimeout(total=5)
            ) as r:
                if r.status == 200:
                    model = (await r.json()).get("model_file")
                    if model:
                        return await off_loop(self._resolve, model)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            pass
        return None

    def _resolve(self, name: str) -> str:
        """Rasa's /status names only the archive's file name: find it again."""
        s = self.settings
        for p in (s.path(name), s.path(s.candidates) / name, s.path("models") / name):
            if p.is_file():
                return str(p)
        for h in self.store.activations():
            if Path(h["model"]).name == name:
                return h["model"]
        return name

    async def put_model(self, model: str) -> None:
        loaded = 0
        for url in self.rasa_urls:
            try:
                async with self.session.put(
                    f"{url}/model",
                    params=self._params(),
                    json={"model_file": model},
                    timeout=aiohttp.ClientTimeout(total=600),
                ) as r:
                    if r.status >= 300:
                        log.warning("Rasa %s refused model %s: %s %s", url, model, r.status, await r.text())
                        raise web.HTTPBadGateway(text='{"error": "rasa_refused"}', content_type="application/json")
                    loaded += 1
            except aiohttp.ClientConnectorError as e:
                # a worker that is down starts again on models/current.tar.gz, which the activation sets
                log.warning("Rasa %s is down (%s): it loads the model when it starts", url, e)
        if not loaded:
            raise web.HTTPBadGateway(text='{"error": "rasa_refused"}', content_type="application/json")


async def _lines(stream):
    # tqdm draws progress bars with \r: split on it too, so progress shows while it runs
    buf = b""
    while True:
        chunk = await stream.read(4096)
        if not chunk:
            if buf:
                yield buf.decode("utf-8", "replace")
            return
        buf += chunk
        parts = re.split(rb"[\r\n]", buf)
        buf = parts.pop()
        for p in parts:
            yield p.decode("utf-8", "replace")


def trainer_required(handler):
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        if request["agent"]["role"] not in TRAINER_ROLES:
            return jsonr({"error": "trainer_only"}, 403)
        return await handler(request)

    return agent_required(wrapper, roles=TRAINER_ROLES)


async def off_loop(fn, *args, **kw):
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args, **kw))


def _trainer(request: web.Request) -> Trainer:
    return request.app[TRAINER]


def _date(value: Optional[str], end: bool = False) -> Optional[float]:
    if not value:
        return None
    try:
        d = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise web.HTTPBadRequest(text='{"error": "bad_date"}', content_type="application/json") from None
    return d.timestamp() + (86400 if end else 0)


def _conversations(request: web.Request, **kw):
    t = _trainer(request)
    return load_conversations(t.settings.tracker_url, sync_url(request.app[CONFIG].db_url), **kw)


# ---- review ----------------------------------------------------------------------------
@trainer_required
async def api_meta(request: web.Request) -> web.Response:
    names = await off_loop(texport.domain_names, _trainer(request).settings.path("domain"))
    return jsonr({"intents": sorted(names["intents"]), "entities": sorted(names["entities"]), "signals": SIGNALS})


@trainer_required
async def api_inbox(request: web.Request) -> web.Response:
    q = request.query
    signal, intent = q.get("signal") or None, q.get("intent") or None
    if signal and signal not in SIGNALS:
        return jsonr({"error": "bad_signal"}, 400)
    try:
        limit = max(1, min(500, int(q.get("limit", "50"))))
        offset = max(0, int(q.get("offset", "0")))
    except ValueError:
        return jsonr({"error": "bad_request"}, 400)
    store = _trainer(request).store
    convs = await off_loop(_conversations, request, since=_date(q.get("from")), until=_date(q.get("to"), end=True))
    corrected = await off_loop(store.by_conversation)
    ranked = rank(convs, signal=signal, intent=intent, corrected=corrected)
    items = []
    for c in ranked[offset : offset + limit]:
        s = c.summary()
        s["corrected"] = len(corrected.get(c.sender_id, {}))
        items.append(s)
    return jsonr({"total": len(ranked), "offset": offset, "limit": limit, "items": items})


@trainer_required
async def api_conversation(request: web.Request) -> web.Response:
    sid = request.match_info["sid"]
    convs = await off_loop(_conversations, request, sender_id=sid)
    if not convs:
        return jsonr({"error": "not_found"}, 404)
    data = convs[0].to_dict()
    fixes = {r["turn"]: r for r in await off_loop(_trainer(request).store.latest, sid)}
    for t in data["turns"]:
        r = fixes.get(t["index"])
        t["correction"] = (
            {"intent": r["intent"], "entities": r["entities"], "who": r["who"], "at": r["created_at"]} if r else None
        )
    return jsonr(data)


@trainer_required
async def api_correct(request: web.Request) -> web.Response:
    body = await json_object(request)
    sid, turn = body.get("sender_id"), body.get("turn")
    if not isinstance(sid, str) or not isinstance(turn, int) or isinstance(turn, bool):
        return jsonr({"error": "bad_request"}, 400)
    convs = await off_loop(_conversations, request, sender_id=sid)
    turns = convs[0].turns if convs else []
    if not 0 <= turn < len(turns):
        return jsonr({"error": "not_found"}, 404)
    names = await off_loop(texport.domain_names, _trainer(request).settings.path("domain"))
    try:
        row = await off_loop(
            _trainer(request).store.add,
            sender_id=sid,
            turn=turn,
            text=turns[turn].text,
            intent=body.get("intent"),
            entities=body.get("entities") or [],
            who=request["agent"]["name"],
            predicted=turns[turn].intent,
            known_entities=names["entities"],
            at=request.app[CONFIG].clock(),
        )
    except CorrectionError as e:
        return jsonr({"error": "bad_correction", "text": str(e)}, 400)
    row["new_intent"] = row["intent"] not in names["intents"]
    return jsonr(row, 201)


@trainer_required
async def api_export(request: web.Request) -> web.Response:
    body = await json_object(request, empty_ok=True)
    stories = body.get("stories") or []
    if not isinstance(stories, list) or not all(isinstance(s, str) for s in stories):
        return jsonr({"error": "bad_request"}, 400)
    t = _trainer(request)
    latest = await off_loop(t.store.latest)
    if not latest:
        return jsonr({"error": "nothing_to_export"}, 400)
    s = t.settings
    out = await off_loop(
        texport.export_nlu,
        latest,
        s.path("data/nlu/reviewed.yml"),
        s.path("domain/reviewed_intents.yml"),
        s.path("domain"),
    )
    out["stories"] = []
    actions = (await off_loop(texport.domain_names, s.path("domain")))["actions"]
    for sid in stories:
        convs = await off_loop(_conversations, request, sender_id=sid)
        if not convs:
            return jsonr({"error": "not_found", "sender_id": sid}, 404)
        fixed = {r["turn"]: r for r in latest if r["sender_id"] == sid}
        answers = await off_loop(texport.rule_actions, s.path("data"))
        out["stories"].append(
            await off_loop(
                texport.export_story, convs[0], fixed, s.path("tests/stories/reviewed.yml"), None, actions, answers
            )
        )
    for key in ("path",):
        out[key] = str(Path(out[key]).relative_to(s.repo)) if out[key].startswith(str(s.repo)) else out[key]
    return jsonr(out)


# ---- training, comparison, activation ----------------------------------------------------
def _compare_cmd(t: Trainer, a: str, b: str, report: Path) -> List[str]:
    """compare_models.py on every development set (tests/nlu/*.yml) and the
    reviewed messages of the repository the trainer works on."""
    s = t.settings
    cmd = s.compare_cmd or [
        sys.executable,
        str(REPO / "scripts" / "compare_models.py"),
        "{a}",
        "{b}",
        "--json",
        "{json}",
        "--progress",
        "--reviewed",
        str(s.path("data/nlu/reviewed.yml")),
        "--sets",
        *sorted(str(p) for p in s.path("tests/nlu").glob("*.yml")),
    ]
    return [c.replace("{a}", a).replace("{b}", b).replace("{json}", str(report)) for c in cmd]


async def _live_archive(t: Trainer) -> Optional[str]:
    a = await t.live_model() or str(t.settings.path(t.settings.live_model))
    return a if Path(a).is_file() else None


@trainer_required
async def api_train(request: web.Request) -> web.Response:
    """`rasa train` into the candidates folder, then (when there is a live model)
    the comparison with it, as one background job."""
    t = _trainer(request)
    name = "candidate-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = t.settings.path(t.settings.candidates)
    out.mkdir(parents=True, exist_ok=True)
    cmd = t.settings.train_cmd or [
        str(Path(sys.executable).parent / "rasa"),
        "train",
        "--domain",
        "domain",
        "--out",
        "{out}",
        "--fixed-model-name",
        "{name}",
    ]
    steps = [[c.replace("{out}", str(out)).replace("{name}", name) for c in cmd]]
    model = out / f"{name}.tar.gz"
    result: Dict[str, Any] = {"model": str(model), "by": request["agent"]["name"]}
    live = await _live_archive(t)
    if live:
        report = t.settings.path("var/trainer_compare.json")
        report.parent.mkdir(parents=True, exist_ok=True)
        report.unlink(missing_ok=True)
        steps.append(_compare_cmd(t, live, str(model), report))
        result.update(a=live, b=str(model), json=str(report))
    job = t.start("train", steps, result)
    return jsonr(job.view(), 202)


def _candidate(t: Trainer, value: Any) -> Path:
    """Only archives under the candidates folder or models/ can be compared or activated."""
    if not isinstance(value, str) or not value.endswith(".tar.gz"):
        raise web.HTTPBadRequest(text='{"error": "bad_model"}', content_type="application/json")
    root = t.settings.path("models").resolve()
    p = t.settings.path(value).resolve()
    if root not in p.parents or not p.is_file():
        raise web.HTTPNotFound(text='{"error": "no_such_model"}', content_type="application/json")
    return p


@trainer_required
async def api_compare(request: web.Request) -> web.Response:
    t = _trainer(request)
    body = await json_object(request)
    b = _candidate(t, body.get("model"))
    a = await _live_archive(t)
    if not a:
        return jsonr({"error": "no_live_model"}, 409)
    report = t.settings.path("var/trainer_compare.json")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.unlink(missing_ok=True)
    job = t.start("compare", [_compare_cmd(t, a, str(b), report)], {"a": a, "b": str(b), "json": str(report)})
    return jsonr(job.view(), 202)


@trainer_required
async def api_job(request: web.Request) -> web.Response:
    return jsonr(_trainer(request).shown_job())


@trainer_required
async def api_models(request: web.Request) -> web.Response:
    t = _trainer(request)
    folder = t.settings.path(t.settings.candidates)
    cands = (
        sorted((str(p.relative_to(t.settings.repo)) for p in folder.glob("*.tar.gz")), reverse=True)
        if folder.is_dir()
        else []
    )
    history = await off_loop(t.store.activations)
    return jsonr({"live": await t.live_model(), "candidates": cands, "history": history[:20]})


def _make_current(t: Trainer, model: str) -> Optional[str]:
    """The activated archive also becomes models/current.tar.gz, so the next
    `make run` (a restart) serves it too; the replaced one is kept as a candidate
    so that a rollback still finds it. Returns the kept copy."""
    import shutil

    current = t.settings.path(t.settings.live_model)
    if Path(model).resolve() == current.resolve():
        return None
    kept = None
    if current.is_file():
        folder = t.settings.path(t.settings.candidates)
        folder.mkdir(parents=True, exist_ok=True)
        kept = folder / ("replaced-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f") + ".tar.gz")
        shutil.copy2(current, kept)
    tmp = current.with_name(current.name + ".new")
    shutil.copy2(model, tmp)
    os.replace(tmp, current)  # atomic: a Rasa start never sees half a file
    return str(kept) if kept else None


@trainer_required
async def api_activate(request: web.Request) -> web.Response:
    t = _trainer(request)
    model = _candidate(t, (await json_object(request)).get("model"))
    live = await t.live_model()
    await t.put_model(str(model))
    kept = await off_loop(_make_current, t, str(model))
    # what a rollback returns to: the kept copy when the live model was models/current.tar.gz
    previous = kept if live and Path(live).resolve() == t.settings.path(t.settings.live_model).resolve() else live
    await off_loop(t.store.record_activation, str(model), previous, request["agent"]["name"], "activate")
    return jsonr({"ok": True, "live": str(model), "previous": previous})


@trainer_required
async def api_rollback(request: web.Request) -> web.Response:
    t = _trainer(request)
    history = [h for h in await off_loop(t.store.activations) if h["kind"] == "activate"]
    if not history or not history[0]["previous"]:
        return jsonr({"error": "nothing_to_roll_back"}, 409)
    target = history[0]["previous"]
    if not Path(target).is_file():
        return jsonr({"error": "no_such_model"}, 409)
    current = await t.live_model()
    await t.put_model(target)
    await off_loop(_make_current, t, target)
    await off_loop(t.store.record_activation, target, current, request["agent"]["name"], "rollback")
    return jsonr({"ok": True, "live": target})


# ---- replies ----------------------------------------------------------------------------
_PLACEHOLDER = re.compile(r"\{(\w+(?:\.\w+)*)\}")  # {order_id}, {shipping.fees.base_fee}
_RESPONSE_NAME = re.compile(r"^utter_[a-z0-9_]{1,60}$")


def _responses(folder: Path) -> Dict[str, Dict[str, Any]]:
    out = {}
    for path in sorted(folder.glob("*.yml")):
        d = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for name, variations in (d.get("responses") or {}).items():
            out[name] = {"file": path.name, "variations": variations}
    return out


@trainer_required
async def api_responses(request: web.Request) -> web.Response:
    folder = _trainer(request).settings.path("domain/responses")
    return jsonr(await off_loop(_responses, folder))


def _guard_every_platform(store: Any, text: str) -> List[Dict[str, Any]]:
    """The draft as the bot would send it, checked for every platform profile."""
    from dataclasses import replace

    from guard import Context, get_checker
    from guard.blind import PLATFORMS

    out = []
    for platform in PLATFORMS:
        st = replace(store, platform=platform)
        for f in get_checker().check(text, Context(platform=platform, store=st, speaker="bot")).findings:
            d = f.to_dict() if hasattr(f, "to_dict") else dict(vars(f))
            d["platform"] = platform
            out.append(d)
    return out


@trainer_required
async def api_save_response(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not _RESPONSE_NAME.match(name):
        return jsonr({"error": "bad_request"}, 400)
    body = await json_object(request)
    texts = body.get("variations")
    if (
        not isinstance(texts, list)
        or not texts
        or not all(isinstance(x, str) and x.strip() and len(x) <= 1000 for x in texts)
    ):
        return jsonr({"error": "bad_request"}, 400)
    folder = _trainer(request).settings.path("domain/responses")
    responses = await off_loop(_responses, folder)
    if name not in responses:
        return jsonr({"error": "not_found"}, 404)
    old = responses[name]["variations"]
    allowed = set()
    for v in old:
        allowed |= set(_PLACEHOLDER.findall(v.get("text") or ""))
    problems, warnings = [], []
    for i, text in enumerate(texts):
        unknown = sorted(set(_PLACEHOLDER.findall(text)) - allowed)
        if unknown:
            problems.append({"variation": i, "kind": "placeholder", "names": unknown})
        findings = await off_loop(_guard_every_platform, request.app[DESK].store, text)
        # a variation the guard would block or rewrite on any platform is not saved; a warning is shown
        hard = [f for f in findings if f.get("severity") in ("block", "rewrite")]
        if hard:
            problems.append({"variation": i, "kind": "guard", "findings": hard})
        warnings += [{"variation": i, **f} for f in findings if f not in hard]
    if problems:
        return jsonr({"error": "check_failed", "problems": problems, "warnings": warnings}, 422)
    path = folder / responses[name]["file"]

    def save():
        # round-trip YAML: the file's comments and layout stay as the trainer's colleagues wrote them
        from ruamel.yaml import YAML

        rt = YAML()
        rt.width = 1000
        with open(path, encoding="utf-8") as f:
            d = rt.load(f)
        keep = [v for v in d["responses"][name] if v.get("channel")]  # channel-specific variations stay
        d["responses"][name] = [{"text": t} for t in texts] + keep
        with open(path, "w", encoding="utf-8") as f:
            rt.dump(d, f)

    await off_loop(save)
    return jsonr({"ok": True, "name": name, "variations": len(texts), "warnings": warnings})


# ---- reports ----------------------------------------------------------------------------
@trainer_required
async def api_report(request: web.Request) -> web.Response:
    try:
        days = max(1, min(90, int(request.query.get("days", "14"))))
    except ValueError:
        return jsonr({"error": "bad_request"}, 400)
    convs = await off_loop(_conversations, request, since=time.time() - days * 86400)
    per_day: Dict[str, Dict[str, int]] = {}
    intents: Dict[str, int] = {}
    missed: Dict[str, Dict[str, int]] = {}
    for c in convs:
        for t in c.turns:
            day = datetime.fromtimestamp(t.ts, timezone.utc).strftime("%Y-%m-%d")
            d = per_day.setdefault(day, {"messages": 0, "fallback": 0})
            d["messages"] += 1
            d["fallback"] += int("nlu_fallback" in t.signals)
            if "nlu_fallback" in t.signals or "low_confidence" in t.signals:
                missed.setdefault(day, {})[t.text] = missed.get(day, {}).get(t.text, 0) + 1
            if t.intent:
                intents[t.intent] = intents.get(t.intent, 0) + 1
    # confusion pairs: what the model said -> what a trainer said it should have been
    pairs: Dict[str, int] = {}
    for r in await off_loop(_trainer(request).store.latest):
        if r["predicted"] and r["predicted"] != r["intent"]:
            key = f"{r['predicted']} → {r['intent']}"
            pairs[key] = pairs.get(key, 0) + 1
    days_out = [
        {
            "day": k,
            **v,
            "rate": round(v["fallback"] / v["messages"], 4),
            "missed": sorted(missed.get(k, {}).items(), key=lambda kv: -kv[1])[:5],
        }
        for k, v in sorted(per_day.items())
    ]
    without_person = sum(1 for c in convs if not c.handoffs and "handoff" not in c.signals)
    overall: Dict[str, int] = {}
    for day in missed.values():
        for text, n in day.items():
            overall[text] = overall.get(text, 0) + n
    return jsonr(
        {
            "fallback_per_day": days_out,
            "misunderstood": sorted(overall.items(), key=lambda kv: (-kv[1], kv[0]))[:10],
            "intents": sorted(intents.items(), key=lambda kv: -kv[1]),
            "confusions": sorted(pairs.items(), key=lambda kv: -kv[1])[:20],
            "conversations": len(convs),
            "without_person": without_person,
        }
    )


# ---- pages ------------------------------------------------------------------------------
async def trainer_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "trainer.html", headers={"Cache-Control": "no-cache"})


async def trainer_js(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "trainer.js", headers={"Cache-Control": "no-cache"})


async def trainer_ctx(app: web.Application):
    settings = app.get(TRAINER_SETTINGS) or TrainerSettings()
    config = app[CONFIG]
    store = await off_loop(
        CorrectionStore, settings.trainer_db_url or os.environ.get("XIAOER_TRAINER_DB_URL") or sync_url(config.db_url)
    )
    async with aiohttp.ClientSession() as session:
        t = Trainer(settings, store, session, config.rasa_url, config.rasa_token)
        app[TRAINER] = t
        yield
        if t.task and not t.task.done():
            t.task.cancel()
    store.engine.dispose()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(trainer_ctx)
    r = app.router
    r.add_get("/trainer", trainer_page)
    r.add_get("/trainer.js", trainer_js)
    r.add_get("/api/trainer/meta", api_meta)
    r.add_get("/api/trainer/inbox", api_inbox)
    r.add_get("/api/trainer/conversations/{sid}", api_conversation)
    r.add_post("/api/trainer/corrections", api_correct)
    r.add_post("/api/trainer/export", api_export)
    r.add_post("/api/trainer/train", api_train)
    r.add_post("/api/trainer/compare", api_compare)
    r.add_get("/api/trainer/job", api_job)
    r.add_get("/api/trainer/models", api_models)
    r.add_post("/api/trainer/activate", api_activate)
    r.add_post("/api/trainer/rollback", api_rollback)
    r.add_get("/api/trainer/responses", api_responses)
    r.add_post("/api/trainer/responses/{name}", api_save_response)
    r.add_get("/api/trainer/report", api_report)
