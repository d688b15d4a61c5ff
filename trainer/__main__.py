"""The trainer's loop from the command line (`make review-export`):

python -m trainer review [--signal S] [--intent I] [--days N]   ranked inbox
python -m trainer show SENDER                                  one conversation, masked
python -m trainer correct SENDER TURN INTENT --who NAME        store a correction
python -m trainer export [--story SENDER ...]                  data/nlu/reviewed.yml (+ test stories)
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time

from trainer.export import domain_names, export_nlu, export_story
from trainer.review import SIGNALS, load_conversations, rank
from trainer.sources import desk_url, tracker_url
from trainer.store import CorrectionError, CorrectionStore


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainer")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("review")
    r.add_argument("--signal", choices=SIGNALS)
    r.add_argument("--intent")
    r.add_argument("--days", type=float, default=7)
    r.add_argument("--limit", type=int, default=30)
    s = sub.add_parser("show")
    s.add_argument("sender")
    c = sub.add_parser("correct")
    c.add_argument("sender")
    c.add_argument("turn", type=int)
    c.add_argument("intent")
    c.add_argument("--who", default=getpass.getuser())
    e = sub.add_parser("export")
    e.add_argument("--story", action="append", default=[], help="also save this conversation as a test story")
    a = p.parse_args(argv)
    store = CorrectionStore()
    if a.cmd == "review":
        convs = load_conversations(tracker_url(), desk_url(), since=time.time() - a.days * 86400)
        for conv in rank(convs, signal=a.signal, intent=a.intent, corrected=store.by_conversation())[: a.limit]:
            s = conv.summary()
            print(
                f"{s['score']:>4}  {s['sender_id']:<24} {s['last'][:16]}  "
                f"{','.join(f'{k}×{v}' for k, v in s['signals'].items()):<40} {s['first_message']}"
            )
        return 0
    if a.cmd == "show":
        convs = load_conversations(tracker_url(), desk_url(), sender_id=a.sender)
        if not convs:
            print("no such conversation", file=sys.stderr)
            return 1
        print(json.dumps(convs[0].to_dict(), ensure_ascii=False, indent=1))
        return 0
    if a.cmd == "correct":
        convs = load_conversations(tracker_url(), sender_id=a.sender)
        turns = convs[0].turns if convs else []
        if not 0 <= a.turn < len(turns):
            print("no such message", file=sys.stderr)
            return 1
        try:
            store.add(
                sender_id=a.sender,
                turn=a.turn,
                text=turns[a.turn].text,
                intent=a.intent,
                who=a.who,
                predicted=turns[a.turn].intent,
            )
        except CorrectionError as err:
            print(err, file=sys.stderr)
            return 1
        return 0
    latest = store.latest()
    if not latest:
        print("nothing to export: no corrections yet", file=sys.stderr)
        return 1
    print(json.dumps(export_nlu(latest), ensure_ascii=False))
    actions = domain_names()["actions"]
    for sender in a.story:
        convs = load_conversations(tracker_url(), desk_url(), sender_id=sender)
        if not convs:
            print(f"no conversation {sender}", file=sys.stderr)
            return 1
        fixed = {r["turn"]: r for r in latest if r["sender_id"] == sender}
        print(json.dumps(export_story(convs[0], fixed, known_actions=actions), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
