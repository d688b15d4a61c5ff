"""TensorFlow & co. are imported only when used (xiaoer/lazy_imports.py, issue #11).

The mechanism on small made-up packages (a second `import` does not run a deferred module,
using it does, a failure shows where it is used; a stand-in class is the real one on first
use); then the real thing in fresh interpreters: the shop's model served and the guard
warm with no TensorFlow in the process, the replies of tests/test_turn_calls.py unchanged
through Rasa's real processor with the deferral on, and a model that does use DIET and TED
trained and served by `python -m xiaoer.serve rasa` with it on, TensorFlow then loaded and
the shopper answered."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from benchmarks.services import children, free_port, maps_module, rest_turn, wait_http
from tests.security.conftest import MODEL, Service, rasa_env
from xiaoer.lazy_imports import DeferredModule, DeferringFinder

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "trainer" / "tiny"


@pytest.fixture
def packages(tmp_path, monkeypatch):
    """A package whose code counts its runs, a module that fails, an abstract base and a
    module with a class; a DeferringFinder for them, removed afterwards."""
    runs = tmp_path / "runs"
    (tmp_path / "heavy").mkdir()
    (tmp_path / "heavy" / "__init__.py").write_text(
        f"from pathlib import Path\np = Path({str(runs)!r})\np.write_text(str(int(p.read_text() or 0) + 1))\n"
        "VALUE = 42\n"
    )
    (tmp_path / "heavy" / "sub.py").write_text("SUB = 'sub'\n")
    (tmp_path / "broken_dep.py").write_text("raise ImportError('no GPU driver here')\n")
    (tmp_path / "bases.py").write_text("import abc\nclass Base(abc.ABC):\n    pass\n")
    (tmp_path / "validator.py").write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            from bases import Base
            Path({str(tmp_path / "validator-ran")!r}).write_text("yes")
            class Validator(Base):
                @classmethod
                def create(cls, n):
                    return cls(n)
                def __init__(self, n):
                    self.n = n
            """
        )
    )
    runs.write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    finder = DeferringFinder(["heavy", "broken_dep"], {"validator": {"Validator": "bases.Base"}})
    sys.meta_path.insert(0, finder)
    names = ("heavy", "heavy.sub", "broken_dep", "bases", "validator")
    try:
        yield tmp_path, lambda: int(runs.read_text() or 0)
    finally:
        sys.meta_path.remove(finder)
        for name in names:
            sys.modules.pop(name, None)


def test_a_deferred_package_runs_on_first_use_only(packages):
    _, runs = packages
    import heavy

    assert isinstance(heavy, DeferredModule) and runs() == 0
    import heavy as again  # Python 3.10's LazyLoader ran the module here (the import reads __spec__)

    assert again is heavy and runs() == 0 and heavy.__name__ == "heavy"
    assert heavy.VALUE == 42 and runs() == 1
    assert type(heavy) is not DeferredModule and heavy.__spec__.submodule_search_locations
    import heavy.sub

    assert heavy.sub.SUB == "sub" and runs() == 1


def test_importing_a_submodule_runs_its_package_first(packages):
    _, runs = packages
    from heavy.sub import SUB

    assert SUB == "sub" and runs() == 1


def test_a_deferred_module_that_fails_raises_where_it_is_used(packages):
    import broken_dep  # would raise here without the deferral: nothing uses it yet

    with pytest.raises(ImportError, match="no GPU driver"):
        broken_dep.anything  # noqa: B018
    assert "broken_dep" not in sys.modules  # as after any failed import: the next one tries again
    import broken_dep as again

    assert again is not broken_dep
    with pytest.raises(ImportError, match="no GPU driver"):
        again.anything  # noqa: B018


def test_a_stand_in_class_becomes_the_real_one_on_use(packages):
    tmp_path, _ = packages
    from bases import Base
    from validator import Validator

    ran = tmp_path / "validator-ran"
    # what Rasa's graph schema reads from a stand-in without using it
    assert (Validator.__module__, Validator.__name__) == ("validator", "Validator")
    assert issubclass(Validator, Base) and not ran.exists()
    made = Validator.create(3)  # a use: the module runs
    assert ran.exists() and made.n == 3
    assert isinstance(made, Validator) and issubclass(type(made), Validator)
    assert sys.modules["validator"].Validator is type(made)


# ---- the real processes ------------------------------------------------------------------------------
def run_python(code: str, timeout: float = 300, **env) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


needs_model = pytest.mark.skipif(not MODEL.exists(), reason="no trained model: run `make train` (make test does)")


@needs_model
def test_the_shops_model_is_served_without_tensorflow_and_tensorflow_still_works(tmp_path):
    out = run_python(
        f"""
        import asyncio, sys
        from pathlib import Path
        from xiaoer.lazy_imports import install, loaded
        assert install()
        import xiaoer.serve as serve
        serve._setdefault_env()
        serve.preload_rasa({str(MODEL)!r})
        serve.warm_guard()
        from rasa.core.agent import Agent
        agent = Agent.load({str(MODEL)!r})
        parsed = asyncio.run(agent.parse_message("在吗"))
        print("intent", parsed["intent"]["name"])
        import thinc.compat
        print("thinc sees tensorflow", thinc.compat.has_tensorflow)
        print("tensorflow loaded", loaded("tensorflow"), "tensorflow" in Path("/proc/self/maps").read_text())
        import tensorflow as tf
        print("tf says", int(tf.constant(2) + 1), loaded("tensorflow"))
        """,
        XIAOER_SECRETS_DIR=str(tmp_path / "secrets"),
        XIAOER_TRACKER_URL=f"sqlite:///{tmp_path / 'tracker.db'}",
    )
    assert "intent greet" in out
    assert "thinc sees tensorflow False" in out
    assert "tensorflow loaded False False" in out
    assert "tf says 3 True" in out


def test_the_switch_imports_as_before():
    out = run_python(
        """
        from xiaoer.lazy_imports import install, loaded
        print(install())
        import rasa.core.policies.policy
        print(loaded("tensorflow"))
        """,
        XIAOER_LAZY_IMPORTS="false",
    )
    assert out.split() == ["False", "True"]


@needs_model
def test_the_replies_through_rasas_processor_are_unchanged_with_the_deferral():
    """tests/test_turn_calls.py (the real MessageProcessor on the trained model, our actions
    counted), run in a process where the deferral is on: the same replies, and TensorFlow
    never loaded."""
    out = run_python(
        """
        import sys
        from xiaoer.lazy_imports import install, loaded
        install()
        import pytest
        rc = pytest.main(["tests/test_turn_calls.py", "-q", "-p", "no:cacheprovider"])
        print("tensorflow loaded", loaded("tensorflow"))
        sys.exit(rc)
        """
    )
    assert "6 passed" in out and "tensorflow loaded False" in out


DIET_TED_CONFIG = """\
recipe: default.v1
language: zh
assistant_id: xiaoer-tiny-tf
pipeline:
  - name: rasa_ext.nlu.ChineseNormalizer
  - name: rasa_ext.nlu.DomainJiebaTokenizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 3
  - name: DIETClassifier
    epochs: 60
    entity_recognition: false
    number_of_transformer_layers: 0
    random_seed: 1
policies:
  - name: RulePolicy
  - name: TEDPolicy
    epochs: 3
    max_history: 3
    random_seed: 1
"""


def test_a_model_with_diet_and_ted_trains_and_answers_with_the_deferral(tmp_path):
    repo = tmp_path / "repo"
    import shutil

    shutil.copytree(TINY, repo)
    (repo / "config.yml").write_text(DIET_TED_CONFIG)
    # trained in a process with the deferral on: Rasa's recipe gets the validator's stand-in
    t0 = time.monotonic()
    out = run_python(
        f"""
        import os
        from xiaoer.lazy_imports import install, loaded
        install()
        os.chdir({str(repo)!r})
        from rasa.model_training import train
        result = train("domain", "config.yml", ["data"], "models", fixed_model_name="current")
        print("code", result.code, "tensorflow loaded", loaded("tensorflow"))
        """,
        timeout=600,
        PYTHONPATH=f"{REPO}:{repo}",
        RASA_TELEMETRY_ENABLED="false",
    )
    assert "code 0 tensorflow loaded True" in out, out
    print(f"DIET + TED trained in {time.monotonic() - t0:.0f} s")
    model = repo / "models" / "current.tar.gz"
    port = free_port()
    env = rasa_env(
        tmp_path / "secrets",
        tmp_path / "tracker.db",
        port,
        model,
        f"http://127.0.0.1:{free_port()}/webhook",
    )
    svc = Service("rasa", env, port, tmp_path / "rasa.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/", 300, svc.proc, svc.log)
        secret = (tmp_path / "secrets" / "channel").read_text().strip()
        token = (tmp_path / "secrets" / "rasa_api").read_text().strip()
        intent, said = rest_turn(url, secret, token, "tf-shopper", "在吗")
        assert intent == "greet", intent
        assert said == ["亲,在的,请问有什么可以帮您?"]
        # the launcher imported TensorFlow for the model's DIET and TED, before it forked the server
        (server,) = children(svc.proc.pid)
        assert maps_module(svc.proc.pid, "tensorflow") and maps_module(server, "tensorflow")
    finally:
        svc.stop()
