"""The trainer's page API against a real desk app, a fake Rasa (status + model
API) and tracker rows written by Rasa's own SQL tracker store."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web

from desk import auth, create_app, load_config
from desk.trainer_views import TRAINER_SETTINGS, TrainerSettings
from desk.web import ENGINE

REPO = Path(__file__).resolve().parents[2]
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")  # the validator reports to telemetry otherwise
PASSWORD = "correct horse battery"


class FakeRasa:
    def __init__(self):
        self.model = "current.tar.gz"  # Rasa's /status gives the archive's file name only
        self.puts = []

    def app(self):
        async def status(request):
            if request.query.get("token") != "rasa-token":
                return web.json_response({}, status=401)
            return web.json_response({"model_file": self.model})

        async def put_model(request):
            if request.query.get("token") != "rasa-token":
                return web.json_response({}, status=401)
            body = await request.json()
            self.puts.append(body["model_file"])
            self.model = Path(body["model_file"]).name
            return web.Response(status=204)

        app = web.Application()
        app.router.add_get("/status", status)
        app.router.add_put("/model", put_model)
        return app


@pytest.fixture
async def trainer(aiohttp_client, aiohttp_server, tmp_path, tracker_db, desk_db):
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "domain", repo / "domain")
    shutil.copytree(REPO / "data", repo / "data", ignore=shutil.ignore_patterns("reviewed.yml"))
    shutil.copy(REPO / "config.yml", repo / "config.yml")
    (repo / "models").mkdir()
    (repo / "models" / "current.tar.gz").write_bytes(b"live")
    rasa = FakeRasa()
    server = await aiohttp_server(rasa.app())
    config = load_config(
        secret="s" * 32,
        db_url=f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}",
        rasa_url=str(server.make_url("")).rstrip("/"),
        rasa_token="rasa-token",
        channel_secret="c",
        shop_enabled=False,
        demo_agent_password=PASSWORD,
        upload_dir=tmp_path / "uploads",
        start_escalation_task=False,
        argon2={"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
    )
    app = create_app(config)
    # a fake "rasa train" that prints progress the way Rasa does and writes the archive
    fake_train = [
        sys.executable,
        "-c",
        "import sys,time,pathlib\n"
        "for p in (10, 50, 100): print(f'Epochs: {p}%|##|', flush=True); time.sleep(0.2)\n"
        "pathlib.Path(sys.argv[1], sys.argv[2] + '.tar.gz').write_bytes(b'model')",
        "{out}",
        "{name}",
    ]
    # the real report code on canned predictions: model loading is compare_models.py's part
    fake_compare = [
        sys.executable,
        "-c",
        "import json,sys\nfrom trainer.compare import compare\n"
        "r = compare([('dev','包邮吗','ask_shipping_fee'),('reviewed','能开专票吗','ask_invoice')],"
        "['ask_shipping_fee','nlu_fallback'],['ask_shipping_fee','ask_invoice'])\n"
        "r.update(a=sys.argv[1], b=sys.argv[2]); open(sys.argv[3],'w').write(json.dumps(r))",
        "{a}",
        "{b}",
        "{json}",
    ]
    # corrections go to the desk's own database (the default)
    app[TRAINER_SETTINGS] = TrainerSettings(
        repo=repo, tracker_url=tracker_db, nice=[], train_cmd=fake_train, compare_cmd=fake_compare
    )
    # the desk's handoffs and ratings come from its own database: reuse the fixture's rows
    (tmp_path / "desk.db").write_bytes(Path(desk_db[len("sqlite:///") :]).read_bytes())
    client = await aiohttp_client(app)
    at = datetime.now(timezone.utc)
    await auth.create_agent(
        app[ENGINE], "tina", PASSWORD, role="trainer", number="31", at=at, hasher=auth.make_hasher(config.argon2)
    )
    origin = str(client.make_url("")).rstrip("/")
    client.origin = origin
    client.repo, client.rasa = repo, rasa

    async def login(name="tina"):
        r = await client.post("/api/login", json={"name": name, "password": PASSWORD}, headers={"Origin": origin})
        assert r.status == 200, await r.text()

    client.login = login
    client.post_json = lambda path, body=None: client.post(path, json=body or {}, headers={"Origin": origin})
    return client


async def wait_job(client):
    for _ in range(100):
        job = await (await client.get("/api/trainer/job")).json()
        if job["state"] != "running":
            return job
        await asyncio.sleep(0.1)
    raise AssertionError("job did not finish")


async def test_only_trainers_and_supervisors(trainer):
    page = await trainer.get("/trainer")
    assert page.status == 200 and "/trainer.js" in await page.text()
    assert (await trainer.get("/trainer.js")).status == 200
    assert (await trainer.get("/api/trainer/inbox")).status == 401
    await trainer.login("agent8")  # the demo agent
    assert (await trainer.get("/api/trainer/inbox")).status == 403
    await trainer.login("super1")
    assert (await trainer.get("/api/trainer/inbox")).status == 200
    assert (await trainer.get("/api/queue")).status == 200


async def test_a_trainer_account_is_no_console_account(trainer):
    await trainer.login()  # tina, role trainer
    assert (await (await trainer.get("/api/me")).json())["role"] == "trainer"
    for path in (
        "/api/queue",
        "/api/agents",
        "/api/quick_replies",
        "/api/labels",
        "/api/audit",
        "/api/conversations/shopper-miss",
        "/api/followups/promises",
        "/api/followups/jobs",
    ):
        r = await trainer.get(path)
        assert r.status == 403, (path, r.status)
    for path, body in (
        ("/api/conversations/shopper-miss/claim", {}),
        ("/api/conversations/shopper-miss/reply", {"text": "亲,在的"}),
        ("/api/presence", {"status": "online"}),
        ("/api/guard/check", {"text": "hi"}),
    ):
        r = await trainer.post_json(path, body)
        assert r.status == 403, (path, r.status)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await trainer.ws_connect("/ws/console", headers={"Origin": trainer.origin})
    assert refused.value.status == 403
    assert (await trainer.get("/api/trainer/inbox")).status == 200
    assert (await trainer.post_json("/api/logout")).status == 200


async def test_review_correct_export(trainer):
    await trainer.login()
    inbox = await (await trainer.get("/api/trainer/inbox")).json()
    assert [i["sender_id"] for i in inbox["items"]] == ["shopper-miss", "shopper-low"]
    assert inbox["items"][1]["signals"] == {"low_confidence": 1, "handoff": 1, "rating_low": 1}
    only = await (await trainer.get("/api/trainer/inbox?signal=rating_low")).json()
    assert [i["sender_id"] for i in only["items"]] == ["shopper-low"]
    assert (await trainer.get("/api/trainer/inbox?signal=nope")).status == 400
    assert (await trainer.get("/api/trainer/inbox?from=2001-01-01&to=2001-01-02")).status == 200
    assert (await (await trainer.get("/api/trainer/inbox?to=2001-01-02")).json())["total"] == 0

    conv = await (await trainer.get("/api/trainer/conversations/shopper-miss")).json()
    first = conv["turns"][0]
    assert "138****5678" in first["text"] and "13812345678" not in str(conv)
    assert first["intent"] == "nlu_fallback" and first["actions"] == ["action_handle_fallback"]

    # one click: the right intent, and 专票 marked as an entity by its span in the (masked) text
    start = first["text"].index("专票")
    r = await trainer.post_json(
        "/api/trainer/corrections",
        {
            "sender_id": "shopper-miss",
            "turn": 0,
            "intent": "ask_invoice",
            "entities": [{"entity": "product", "start": start, "end": start + 2}],
        },
    )
    assert r.status == 201, await r.text()
    row = await r.json()
    assert row["who"] == "tina" and row["entities"][0]["value"] == "专票" and row["new_intent"] is False
    r = await trainer.post_json(
        "/api/trainer/corrections", {"sender_id": "shopper-miss", "turn": 1, "intent": "ask_vat_invoice"}
    )
    assert (await r.json())["new_intent"] is True
    for bad in (
        {"sender_id": "shopper-miss", "turn": 9, "intent": "ask_invoice"},
        {"sender_id": "shopper-miss", "turn": 0, "intent": "Ask!"},
        {
            "sender_id": "shopper-miss",
            "turn": 0,
            "intent": "ask_invoice",
            "entities": [{"entity": "no_such_entity", "start": 0, "end": 1}],
        },
    ):
        assert (await trainer.post_json("/api/trainer/corrections", bad)).status in (400, 404)
    conv = await (await trainer.get("/api/trainer/conversations/shopper-miss")).json()
    assert conv["turns"][0]["correction"]["intent"] == "ask_invoice"

    r = await trainer.post_json("/api/trainer/export", {"stories": ["shopper-miss"]})
    assert r.status == 200, await r.text()
    out = await r.json()
    assert out["new_intents"] == ["ask_vat_invoice"] and out["stories"][0]["steps"] == 4
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
    from rasa.shared.nlu.training_data.loading import load_data

    repo = trainer.repo
    data = load_data(str(repo / "data" / "nlu" / "reviewed.yml"))
    assert sorted(m.get("intent") for m in data.intent_examples) == ["ask_invoice", "ask_vat_invoice"]
    assert all("13812345678" not in m.get("text") and "文三路" not in m.get("text") for m in data.intent_examples)
    domain = Domain.load(str(repo / "domain"))
    assert "ask_vat_invoice" in domain.intents  # the new intent has its domain entry
    stories = YAMLStoryReader(domain).read_from_file(str(repo / "tests" / "stories" / "reviewed.yml"))
    assert [e.intent_name for e in stories[0].events if hasattr(e, "intent_name")] == ["ask_invoice", "ask_vat_invoice"]
    # the rules' answer to ask_invoice; the new intent has no rule yet, so the bot's own action stays
    assert [e.action_name for e in stories[0].events if hasattr(e, "action_name") and e.action_name] == [
        "action_answer_invoice",
        "action_handle_fallback",
    ]

    # what `rasa data validate` does, on the project's data plus the exported files
    import rasa.cli.utils
    from rasa.shared.importers.importer import TrainingDataImporter

    importer = TrainingDataImporter.load_from_config(
        domain_path=str(repo / "domain"),
        config_path=str(repo / "config.yml"),
        training_data_paths=[str(repo / "data"), str(repo / "tests" / "stories" / "reviewed.yml")],
    )
    import warnings

    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        rasa.cli.utils.validate_files(False, None, importer)  # exits (SystemExit) on an error
    # the project has warnings of its own (unused responses ...); none may be about what was exported
    # (an intent missing from the domain, e.g., is only a warning for Rasa)
    about_export = [
        str(w.message)
        for w in said
        if any(f"'{name}'" in str(w.message) for name in ("ask_invoice", "ask_vat_invoice", "product"))
        or "reviewed" in str(w.message)
    ]
    assert about_export == [], about_export


async def test_train_compare_activate_rollback(trainer):
    await trainer.login()
    r = await trainer.post_json("/api/trainer/train")
    assert r.status == 202
    assert (await trainer.post_json("/api/trainer/train")).status == 409  # never two at once
    job = await wait_job(trainer)
    assert job["state"] == "done" and "Epochs: 100%" in job["progress"]
    model = job["result"]["model"]
    models = await (await trainer.get("/api/trainer/models")).json()
    assert models["candidates"] == [str(Path(model).relative_to(trainer.repo))]

    assert (await trainer.post_json("/api/trainer/compare", {"model": "../../etc/passwd.tar.gz"})).status in (400, 404)
    r = await trainer.post_json("/api/trainer/compare", {"model": models["candidates"][0]})
    assert r.status == 202, await r.text()
    job = await wait_job(trainer)
    assert job["state"] == "done", job
    report = job["result"]["report"]
    assert report["a"].endswith("models/current.tar.gz") and report["b"] == model
    assert report["better"] == ["ask_invoice"] and report["changed"][0]["verdict"] == "fixed"

    r = await trainer.post_json("/api/trainer/activate", {"model": models["candidates"][0]})
    assert r.status == 200, await r.text()
    assert trainer.rasa.puts == [model]
    current = trainer.repo / "models" / "current.tar.gz"
    assert current.read_bytes() == b"model"  # a restart serves the activated model too
    models = await (await trainer.get("/api/trainer/models")).json()
    assert models["live"] == model and models["history"][0]["who"] == "tina"
    r = await trainer.post_json("/api/trainer/rollback")
    assert r.status == 200
    assert "replaced-" in trainer.rasa.puts[-1]  # the copy of the model that was live before
    assert current.read_bytes() == b"live"


async def test_reply_editing_checked(trainer):
    await trainer.login()
    responses = await (await trainer.get("/api/trainer/responses")).json()
    name = "utter_unresolved"
    assert name in responses
    # an unknown placeholder is refused, the file unchanged
    before = (trainer.repo / "domain" / "responses" / responses[name]["file"]).read_text()
    r = await trainer.post_json(f"/api/trainer/responses/{name}", {"variations": ["收到了亲,{nope}"]})
    assert r.status == 422 and (await r.json())["problems"][0]["kind"] == "placeholder"
    r = await trainer.post_json(f"/api/trainer/responses/{name}", {"variations": ["这个没有发票哦"]})
    assert r.status == 422 and (await r.json())["problems"][0]["kind"] == "guard"
    assert (trainer.repo / "domain" / "responses" / responses[name]["file"]).read_text() == before
    # fine on the shop's own platform, rewritten on 拼多多 (宝贝 -> 商品): every platform profile is checked
    r = await trainer.post_json(
        f"/api/trainer/responses/{name}", {"variations": ["亲,这款宝贝的问题我记下了:{question}"]}
    )
    assert r.status == 422
    found = (await r.json())["problems"][0]["findings"]
    assert {f["platform"] for f in found} == {"pdd"} and {f["rule_id"] for f in found} == {"R5.02"}
    assert (trainer.repo / "domain" / "responses" / responses[name]["file"]).read_text() == before
    r = await trainer.post_json(
        f"/api/trainer/responses/{name}",
        {"variations": ["我已经把您的问题记下来了:{question},有准确答案后马上联系您。"]},
    )
    assert r.status == 200, await r.text()
    saved = yaml.safe_load((trainer.repo / "domain" / "responses" / responses[name]["file"]).read_text())
    assert saved["responses"][name][0]["text"].startswith("我已经把您的问题记下来了")
    # the saved domain still loads in Rasa, and the bot's NLG serves the new wording
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    from rasa_ext.nlg import StoreNLG

    out = await StoreNLG(domain=Domain.load(str(trainer.repo / "domain"))).generate(
        name, DialogueStateTracker("s", []), "rest", question="无人机能充吗"
    )
    assert out["text"].startswith("我已经把您的问题记下来了") and "无人机能充吗" in out["text"]


async def test_report(trainer):
    await trainer.login()
    rep = await (await trainer.get("/api/trainer/report?days=2")).json()
    assert rep["conversations"] == 3 and rep["without_person"] == 2
    assert [n for _, n in rep["misunderstood"]] == [1, 1, 1]  # the two fallbacks and the low-confidence one
    assert not any("13812345678" in t or "文三路" in t for t, _ in rep["misunderstood"])
    assert sum(d["fallback"] for d in rep["fallback_per_day"]) == 2
    assert dict(rep["intents"])["nlu_fallback"] == 2
    missed = [t for d in rep["fallback_per_day"] for t, _ in d["missed"]]
    assert "台灯啥时候到" in missed and not any("13812345678" in t for t in missed)
    r = await trainer.post_json(
        "/api/trainer/corrections", {"sender_id": "shopper-low", "turn": 0, "intent": "ask_courier"}
    )
    assert r.status == 201
    rep = await (await trainer.get("/api/trainer/report")).json()
    assert rep["confusions"] == [["ask_delivery_time → ask_courier", 1]]


async def test_one_job_across_desk_processes(trainer):
    """Another desk process (here: a separate Python process using the same lock
    and state files) runs a job: this desk shows it and refuses a second one."""
    await trainer.login()
    var = trainer.repo / "var"
    var.mkdir(exist_ok=True)
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import fcntl, json, sys, time\n"
                f"f = open({str(var / 'trainer_job.lock')!r}, 'w'); fcntl.flock(f, fcntl.LOCK_EX)\n"
                f"open({str(var / 'trainer_job.json')!r}, 'w').write(json.dumps({{'kind': 'train', 'state': 'running',"
                " 'progress': 'Epochs: 40%', 'step': 1, 'steps': 2, 'started': time.time(), 'log': []}))\n"
                "print('locked', flush=True); time.sleep(60)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout.readline().strip() == "locked"
        job = await (await trainer.get("/api/trainer/job")).json()
        assert job["state"] == "running" and job["progress"] == "Epochs: 40%"
        r = await trainer.post_json("/api/trainer/train")
        assert r.status == 409 and (await r.json())["error"] == "job_running"
    finally:
        other.kill()
        other.wait()
    # its process ended before its job did: shown as interrupted, and a new run may start
    assert (await (await trainer.get("/api/trainer/job")).json())["state"] == "interrupted"
    assert (await trainer.post_json("/api/trainer/train")).status == 202
    job = await wait_job(trainer)
    assert job["state"] == "done" and job["steps"] == 2 and job["result"]["report"]["better"] == ["ask_invoice"]


async def test_inbox_pages(trainer):
    await trainer.login()
    first = await (await trainer.get("/api/trainer/inbox?limit=1")).json()
    second = await (await trainer.get("/api/trainer/inbox?limit=1&offset=1")).json()
    assert first["total"] == second["total"] == 2
    assert [i["sender_id"] for i in first["items"] + second["items"]] == ["shopper-miss", "shopper-low"]
    assert (await (await trainer.get("/api/trainer/inbox?limit=1&offset=2")).json())["items"] == []
    assert (await trainer.get("/api/trainer/inbox?offset=x")).status == 400


async def test_activate_reaches_every_rasa_worker(aiohttp_server):
    """make run serves with two Rasa workers: an activated model is loaded by each; a worker
    that is down is skipped (it starts again on models/current.tar.gz, which activation sets)."""
    from desk.trainer_views import Trainer
    from tests.integration.procs import free_port

    first, second = FakeRasa(), FakeRasa()
    s1, s2 = await aiohttp_server(first.app()), await aiohttp_server(second.app())
    urls = [str(s.make_url("")).rstrip("/") for s in (s1, s2)]
    down = f"http://127.0.0.1:{free_port()}"
    async with aiohttp.ClientSession() as session:
        t = Trainer(None, None, session, ",".join(urls + [down]), "rasa-token")
        await t.put_model("/repo/models/candidates/m1.tar.gz")
        assert first.puts == second.puts == ["/repo/models/candidates/m1.tar.gz"]
        nobody = Trainer(None, None, session, down, "rasa-token")
        with pytest.raises(web.HTTPBadGateway):
            await nobody.put_model("/repo/models/candidates/m2.tar.gz")
