"""CPU per stage of a Rasa turn, the code of a git ref against this tree, in the same run.

    .venv/bin/python benchmarks/turn_stages.py                      # against 1dc03a3 (before issue 11, turncpu)
    .venv/bin/python benchmarks/turn_stages.py --ref HEAD~3 --rounds 3 --conversations 8 --turns 25
    .venv/bin/python benchmarks/turn_stages.py --profile /tmp/turn.prof   # cProfile of the new side too

One process holds the trained model (models/current.tar.gz) loaded the way a Rasa
worker loads it (`python -m xiaoer.serve rasa`: logging at INFO, the action
schema checked once), a temporary SQLite tracker store and an action server in
the same process (rasa-sdk's executor behind aiohttp, an in-memory shop). The
"before" side is the same loaded model with the policies', NLU components' and
policy guard's classes and functions of `--ref` (read with `git show`, imported
as separate modules): the policy and component objects switch class, the NLG's
guard call goes to the old checker. Rounds alternate before / now; each round
sends the same conversations (benchmarks/capacity.py's FAQ and order questions,
`--turns` messages each) to new senders, with the same random seed per
conversation, so both sides answer the same messages in the same states. The
replies both sides sent are compared.

Printed per side, CPU time (time.process_time) per shopper message: the whole
turn, the Rasa side of it (the in-process action server's handler excluded),
and the stages: NLU (processor.parse_message), policies (each
`_predict_next_with_tracker`), NLG + guard (nlg.generate), tracker store
(retrieve + save), action calls (the Rasa side's HTTP call, handler excluded).
CPU time, not wall time: other load on a shared box does not count, but a busy
box still slows caches: the load average is printed."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests" / "shop"))

from capacity import FAQ, ORDER, ORDER_SHARE, loadavg  # noqa: E402
from services import solo_rasa_stores  # noqa: E402

BASE_REF = "1dc03a3"  # main before the turncpu changes (issue 11)
STAGES = ("nlu", "policies", "nlg_guard", "tracker_store", "action_calls")


def module_at(ref: str, path: str, name: str) -> Any:
    """The file `path` as it was at git `ref`, imported as module `name`."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:{path}"], check=True, capture_output=True).stdout
    # beside the repository's other folders (a module may find lexicon/ from its own path)
    folder = Path(tempfile.mkdtemp(prefix="turn_stages_"))
    for entry in REPO.iterdir():
        if entry.name != Path(path).parts[0] and not entry.name.startswith("."):
            (folder / entry.name).symlink_to(entry)
    file = folder / Path(path).parent / f"{name}.py"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(source)
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Clock:
    """CPU seconds per stage, added up while `stage` is set."""

    def __init__(self) -> None:
        self.spent: Dict[str, float] = defaultdict(float)
        self.handler = 0.0  # the in-process action server's own work

    def sync(self, name: str, fn):
        def timed(*args, **kwargs):
            t = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[name] += time.process_time() - t

        return timed

    def coro(self, name: str, fn):
        async def timed(*args, **kwargs):
            t = time.process_time()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.spent[name] += time.process_time() - t

        return timed


async def start_actions(port: int, clock: Clock):
    from aiohttp import web
    from rasa_sdk.executor import ActionExecutor
    from shop_helpers import ALICE, BOB, catalogue

    from actions import records
    from shop.sql import ShopData, SqlShop

    shop = SqlShop("sqlite+aiosqlite://")
    await shop.start()
    await shop.load(ShopData(products=catalogue(), buyers=[ALICE, BOB], orders=[]))
    records.set_backend(shop)
    executor = ActionExecutor()
    executor.register_package("actions")

    async def webhook(request):
        t = time.process_time()
        try:
            return web.json_response(await executor.run(await request.json()))
        finally:
            clock.handler += time.process_time() - t

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, shop


def conversations(n: int, turns: int, seed: int = 5) -> List[List[str]]:
    rng = random.Random(seed)
    return [
        [rng.choice(ORDER) if rng.random() < ORDER_SHARE else rng.choice(FAQ) for _ in range(turns)] for _ in range(n)
    ]


class Sides:
    """Switches the loaded model's objects between the old code and this tree's."""

    def __init__(self, agent, ref: str) -> None:
        import guard
        import rasa_ext.nlu as new_nlu
        import rasa_ext.policies as new_policies

        old_lexicon = module_at(ref, "xiaoer/lexicon.py", "turn_stages_old_lexicon")
        old_policies = module_at(ref, "rasa_ext/policies.py", "turn_stages_old_policies")
        old_nlu = module_at(ref, "rasa_ext/nlu.py", "turn_stages_old_nlu")
        old_nlu.extract_entities = old_lexicon.extract_entities
        old_checker = module_at(ref, "guard/checker.py", "turn_stages_old_checker")
        self.guard = guard
        self.outbound = {"now": guard.outbound, "before": old_checker.outbound}
        nodes = agent.processor.graph_runner._instantiated_nodes
        self.nodes = []  # (graph node, {side: (component, the function the node calls on it)})
        for node in nodes.values():
            component = node._component
            name = type(component).__name__
            for module_new, module_old in ((new_policies, old_policies), (new_nlu, old_nlu)):
                if getattr(module_new, name, None) is type(component) and hasattr(module_old, name):
                    # the old class's object on the same loaded state (lookups, vectorizer, model)
                    old_cls = getattr(module_old, name)
                    old = old_cls.__new__(old_cls)
                    old.__dict__.update(
                        {k: v for k, v in component.__dict__.items() if k not in ("_indexes", "_states_memo")}
                    )
                    self.nodes.append(
                        (node, {"now": (component, node._fn), "before": (old, getattr(old_cls, node._fn_name))})
                    )
        assert len(self.nodes) >= 4, self.nodes

    def use(self, side: str) -> None:
        for node, components in self.nodes:
            node._component, node._fn = components[side]
        self.guard.outbound = self.outbound[side]


async def run(args) -> None:
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)
    logging.getLogger("xiaoer.guard").setLevel(logging.ERROR)
    from xiaoer.schema_check import install

    install()
    import numpy as np
    from capacity import free_port
    from rasa.core.agent import load_agent
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
    from rasa.core.utils import AvailableEndpoints

    clock = Clock()
    port = free_port()
    runner, shop = await start_actions(port, clock)
    tmp = tempfile.mkdtemp(prefix="turn_stages_")
    os.environ.update(
        XIAOER_ACTION_URL=f"http://127.0.0.1:{port}/webhook",
        **solo_rasa_stores(f"{tmp}/tracker.db"),
        XIAOER_FOLLOWUP_DB_URL=f"sqlite+aiosqlite:///{tmp}/followup.db",
    )
    agent = await load_agent(args.model, endpoints=AvailableEndpoints.read_endpoints(str(REPO / "endpoints.yml")))
    sides = Sides(agent, args.ref)
    processor = agent.processor
    processor.parse_message = clock.coro("nlu", processor.parse_message)
    processor._predict_next_with_tracker = clock.sync("policies", processor._predict_next_with_tracker)
    agent.nlg.generate = clock.coro("nlg_guard", agent.nlg.generate)
    store = agent.tracker_store
    store.retrieve = clock.coro("tracker_store", store.retrieve)
    store.save = clock.coro("tracker_store", store.save)
    from rasa.utils.endpoints import EndpointConfig

    real_request = EndpointConfig.request
    EndpointConfig.request = clock.coro("action_calls", real_request)  # benchmark instrumentation only

    plan = conversations(args.conversations, args.turns)
    results: Dict[str, Dict[str, List[float]]] = {"before": defaultdict(list), "now": defaultdict(list)}
    replies: Dict[str, List[Any]] = {"before": [], "now": []}
    profile = cProfile.Profile() if args.profile else None

    async def one_round(side: str, label: str, record: bool) -> None:
        sides.use(side)
        clock.spent.clear()
        clock.handler = 0.0
        said = []
        if profile and record and side == "now":
            profile.enable()
        t0 = time.process_time()
        for c, messages in enumerate(plan):
            random.seed(c)
            np.random.seed(c)
            sender = f"{label}-{side}-{c}"
            for text in messages:
                out = CollectingOutputChannel()
                await agent.handle_message(UserMessage(text, out, sender, metadata={"buyer_id": "buyer_001"}))
                said.append([m.get("text") for m in out.messages])
        total = time.process_time() - t0
        if profile and record and side == "now":
            profile.disable()
        if not record:
            return
        n = sum(len(m) for m in plan)
        r = results[side]
        r["turn"].append(1000 * total / n)
        r["rasa"].append(1000 * (total - clock.handler) / n)
        for stage in STAGES:
            spent = clock.spent[stage] - (clock.handler if stage == "action_calls" else 0.0)
            r[stage].append(1000 * spent / n)
        replies[side].append(said)

    for side in ("before", "now"):  # warm-up: lazy loads, caches of the first replies
        await one_round(side, "warm", record=False)
    for i in range(args.rounds):
        for side in ("before", "now") if i % 2 == 0 else ("now", "before"):
            await one_round(side, f"r{i}", record=True)
    EndpointConfig.request = real_request
    sides.use("now")

    n = sum(len(m) for m in plan)
    print(
        f"model {args.model}; before = {args.ref}, now = this tree; {args.rounds} rounds x "
        f"{len(plan)} conversations x {args.turns} messages ({n} per round and side); load average {loadavg()}"
    )
    print("CPU ms per shopper message (median of the rounds; process_time)")
    print(f"{'':30s}{'before':>10s}{'now':>10s}{'change':>10s}")
    names = {
        "turn": "whole turn, in-process",
        "rasa": "Rasa side (no action handler)",
        "nlu": "  NLU",
        "policies": "  policies",
        "nlg_guard": "  NLG + guard",
        "tracker_store": "  tracker store",
        "action_calls": "  action calls (HTTP)",
    }
    for key, label in names.items():
        b = statistics.median(results["before"][key])
        a = statistics.median(results["now"][key])
        change = f"{100 * (a - b) / b:+.0f} %" if b else ""
        print(f"{label:30s}{b:10.2f}{a:10.2f}{change:>10s}")
    pairs = [
        (x, y) for rb, rn in zip(replies["before"], replies["now"], strict=True) for x, y in zip(rb, rn, strict=True)
    ]
    same = sum(x == y for x, y in pairs)
    total = sum(len(r) for r in replies["now"])
    print(f"replies: {same} of {total} messages got the same replies on both sides")
    if profile:
        profile.dump_stats(args.profile)
        print(f"cProfile of the 'now' rounds: {args.profile}")
    await runner.cleanup()
    await shop.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", default=BASE_REF, help="git ref of the 'before' code (default %(default)s)")
    p.add_argument("--model", default=str(REPO / "models" / "current.tar.gz"))
    p.add_argument("--rounds", type=int, default=2, help="measured rounds per side (alternating)")
    p.add_argument("--conversations", type=int, default=8)
    p.add_argument("--turns", type=int, default=20, help="messages per conversation")
    p.add_argument("--profile", default="", help="write a cProfile of the 'now' rounds here")
    args = p.parse_args()
    os.chdir(REPO)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
