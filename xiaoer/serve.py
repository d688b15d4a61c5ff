"""Start the action server or Rasa with the internal hops authenticated.

    python -m xiaoer.serve actions    rasa-sdk's server on $XIAOER_ACTION_HOST:$XIAOER_ACTION_PORT
    python -m xiaoer.serve rasa       Rasa (REST channel + HTTP API) on $XIAOER_RASA_HOST:$XIAOER_RASA_PORT

Both listen on 127.0.0.1 unless told otherwise. Secrets come from
xiaoer.secrets (environment or generated 0600 files), never from the command
line, where `ps` would show them to every user of the machine:

- the action server refuses POST /webhook and GET /actions without the
  "action" secret in the X-Xiaoer-Action-Secret header (GET /health stays open
  for supervisors); this launcher adds that header to Rasa's action endpoint
  (endpoints.yml gives only the URL);
- Rasa's HTTP API takes the "rasa_api" secret as its auth token;
- the shopper channel checks the "channel" secret (rasa_ext/channels.py).

A crashed Rasa server is back in seconds (issue 12): `rasa` mode imports Rasa
(TensorFlow only if the model uses it: xiaoer.lazy_imports), our components and the policy guard once, then forks the
server from that process (`keep_serving`). When the server dies after it has
served, a new one is forked at once and only loads the model; the process
supervisord watches (this one) stays up. A server that dies during its start
makes this process exit with it, so supervisord's backoff applies.
XIAOER_RASA_FORK=false serves in this process instead, as before.
"""

from __future__ import annotations

import functools
import gc
import hmac
import logging
import os
import signal
import sys
import tarfile
import threading
from pathlib import Path
from typing import Callable, List, Optional

from xiaoer.secrets import get_secret

REPO = Path(__file__).resolve().parent.parent
ACTION_HEADER = "X-Xiaoer-Action-Secret"
OPEN_PATHS = {"/health"}

log = logging.getLogger("xiaoer.serve")


def action_host() -> str:
    return os.environ.get("XIAOER_ACTION_HOST") or "127.0.0.1"


def action_port() -> int:
    return int(os.environ.get("XIAOER_ACTION_PORT") or 5055)


def rasa_host() -> str:
    return os.environ.get("XIAOER_RASA_HOST") or "127.0.0.1"


def rasa_port() -> int:
    return int(os.environ.get("XIAOER_RASA_PORT") or 5005)


def secret_matches(given: Optional[str], secret: str) -> bool:
    """Constant-time comparison that never raises on odd (non-ASCII) input."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), secret.encode())


def lock_down() -> None:
    """Files this process creates (SQLite databases, uploads, logs) readable by its
    user only, and the log file the shell or supervisor opened for it as well:
    var/*.db hold buyers' phones and addresses."""
    import stat

    os.umask(0o077)
    for fd in (1, 2):
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.fchmod(fd, 0o600)
        except OSError:
            pass
    for folder, pattern in ((REPO / "var", "*.db*"), (REPO / "logs", "*.log")):
        if folder.is_dir():
            try:
                # no one else lists or reads it; a traverse bit someone granted stays: the scaled
                # mode's PostgreSQL runs as its own user with its data under var/scaled/
                os.chmod(folder, 0o700 | (folder.stat().st_mode & 0o011))
                for path in folder.glob(pattern):
                    if path.is_file():
                        os.chmod(path, 0o600)
            except OSError as e:  # a file of another user: say so, do not refuse to start
                log.warning("could not restrict %s: %s", folder, e)


def create_action_app(secret: Optional[str] = None, package: str = "actions"):
    """rasa-sdk's Sanic app with the shared secret checked on every route but /health."""
    from rasa_sdk.endpoint import create_app
    from sanic import response

    secret = secret or get_secret("action")
    # no CORS: browsers have no business calling the action server
    app = create_app(package, cors_origins=None, auto_reload=False)

    @app.middleware("request")
    async def require_secret(request):
        if request.path in OPEN_PATHS:
            return None
        if not secret_matches(request.headers.get(ACTION_HEADER), secret):
            log.warning("refused %s %s from %s: no valid action secret", request.method, request.path, request.ip)
            return response.json({"error": "unauthorized"}, status=401)
        return None

    return app


def run_actions() -> None:
    host, port = action_host(), action_port()
    app = create_action_app()
    # its imports (our actions, the shop, SQLAlchemy) out of full collections: 28-48 ms of CPU
    # each under load before (XIAOER_GC_STATS), the server waiting meanwhile
    from xiaoer.gcwatch import freeze_now

    freeze_now()
    log.info("action server on http://%s:%s (webhook needs %s)", host, port, ACTION_HEADER)
    app.run(host=host, port=port, workers=1, access_log=False, motd=False)


def _setdefault_env() -> None:
    """What endpoints.yml interpolates; the same defaults as scripts/run.sh."""
    os.environ.setdefault("XIAOER_ACTION_URL", f"http://{action_host()}:{action_port()}/webhook")
    os.environ.setdefault("XIAOER_TRACKER_DIALECT", "sqlite")
    os.environ.setdefault("XIAOER_TRACKER_URL", f"sqlite:///{REPO / 'var' / 'rasa_tracker.db'}")
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    # generated now, before the channel (which reads it lazily) and the desk need it
    get_secret("channel")


def endpoints_with_secret(path: str):
    """endpoints.yml, with the action secret added to the action endpoint's headers, and
    that endpoint keeping its connections open between calls (rasa_ext/endpoints.py)."""
    from rasa.core.utils import AvailableEndpoints

    from rasa_ext.endpoints import KeepAliveEndpointConfig

    endpoints = AvailableEndpoints.read_endpoints(path)
    if endpoints.action is not None:
        endpoints.action.headers = {**(endpoints.action.headers or {}), ACTION_HEADER: get_secret("action")}
        endpoints.action = KeepAliveEndpointConfig.of(endpoints.action)
    return endpoints


def since_start() -> float:
    """Seconds since this process began (a forked server: since its fork), from /proc."""
    try:
        started = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        return float(Path("/proc/uptime").read_text().split()[0]) - started / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def stage(name: str) -> None:
    """One line per step of the start (benchmarks/startup.py reads them)."""
    log.info("start: %s at %.1f s", name, since_start())


def model_components(model: str) -> List[str]:
    """The modules of the components the model's prediction graph uses (from its metadata.json)."""
    import json

    try:
        with tarfile.open(model, "r:gz") as tar:
            member = tar.extractfile("metadata.json")
            metadata = json.load(member) if member else {}
    except (OSError, KeyError, tarfile.TarError, ValueError):
        return []
    nodes = (metadata.get("predict_schema") or {}).get("nodes") or {}
    return sorted({str(n.get("uses", "")).rpartition(".")[0] for n in nodes.values()} - {""})


def preload_rasa(model: str) -> None:
    """What every Rasa server needs and no model swap changes, done once before the fork:
    Rasa's modules (TensorFlow is deferred, xiaoer.lazy_imports: it is imported here only
    if one of the model's components uses it), the modules of the model's components,
    jieba's dictionary with the shop's words (the guard follows: `warm_guard`). Only imports
    and Python data: no thread, event loop, connection or TensorFlow op is started here, so
    the forked server inherits nothing it cannot use."""
    import importlib

    import rasa.core.run  # noqa: F401

    stage("Rasa imported")
    for module in model_components(model):
        try:
            importlib.import_module(module)
        except Exception as e:  # the server's own model load reports it properly
            log.warning("could not preload %s: %s", module, e)
    import rasa_ext.channels  # noqa: F401
    import rasa_ext.nlg  # noqa: F401
    import rasa_ext.stores  # noqa: F401
    from xiaoer.lexicon import register_with_jieba

    register_with_jieba()
    stage("components imported, jieba ready")


def warm_guard() -> None:
    """The policy guard's first use loads spaCy and compiles the rule book (~1.5 s of CPU)."""
    from guard import get_checker

    get_checker()
    stage("guard ready")


def _die_with_parent() -> None:
    """A forked server must not outlive the process supervisord watches: killed with -9,
    that one could not stop it, and its successor could not bind the port."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def keep_serving(serve: Callable[[Callable[[], None]], None]) -> int:
    """Run `serve(serving)` in a forked child, which calls `serving()` once it serves; fork a
    new one at once when a child that had served dies. A child that dies before it served
    (a broken model, a port in use), or a stop (SIGTERM/SIGINT, passed on to the child),
    ends this process with the child's status: restarts after a failing start are
    supervisord's (startsecs, backoff), as they were before this launcher forked."""
    child = 0
    stopping = False

    def pass_on(signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        if child:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, pass_on)
    # what is imported now stays out of the collector's reach: its passes would write to
    # every object and so copy the pages a forked server shares with this process
    gc.freeze()
    while True:
        ready_r, ready_w = os.pipe()
        notify = functools.partial(os.write, ready_w, b"1")
        pid = os.fork()
        if pid == 0:  # the server
            os.close(ready_r)
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, signal.SIG_DFL)
            _die_with_parent()
            code = 1
            try:
                serve(notify)
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            except BaseException:
                log.exception("Rasa server failed")
            finally:
                logging.shutdown()
                os._exit(code)
        os.close(ready_w)
        child = pid
        if stopping:  # a stop that came during the fork
            pass_on(signal.SIGTERM, None)
        _, status = os.waitpid(pid, 0)
        child = 0
        had_served = bool(os.read(ready_r, 1))  # b"" once the dead child's end is closed
        os.close(ready_r)
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else 1
        if not had_served:
            log.error("Rasa server %s exited (%s) before it served; stopping", pid, code)
            return code if code > 0 else 1
        log.warning("Rasa server %s exited (%s); starting a new one", pid, code)


def run_rasa() -> None:
    stage("launcher started")
    _setdefault_env()
    model = os.environ.get("XIAOER_MODEL") or str(REPO / "models" / "current.tar.gz")
    if os.environ.get("XIAOER_RASA_FORK", "true").lower() in ("0", "false", "no"):
        serve_rasa(model)
        return
    preload_rasa(model)
    warm_guard()  # here, so that every server, the first one too, shares one warm guard
    sys.exit(keep_serving(lambda serving: serve_rasa(model, serving)))


def serve_rasa(model: str, serving: Optional[Callable[[], None]] = None) -> None:
    import rasa.core.run
    from rasa.utils.common import configure_logging_and_warnings

    configure_logging_and_warnings(logging.INFO)
    # what `rasa run` does: structlog at INFO too. Unconfigured, structlog wrote every debug
    # event (tracker states at each prediction, ~2 MB a minute under load) and spent CPU on it.
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.INFO)
    # the action server's answers are validated against a schema checked once, not per call
    from xiaoer.schema_check import install

    install()
    endpoints = os.environ.get("XIAOER_ENDPOINTS") or str(REPO / "endpoints.yml")
    credentials = os.environ.get("XIAOER_CREDENTIALS") or str(REPO / "credentials.yml")

    async def started(_app, _loop) -> None:
        stage("serving (model loaded, port open)")
        # not frozen here (xiaoer.gcwatch): a full collection over a served model's heap takes
        # ~0.6 ms of CPU (benchmarks/gc_pauses.py), and a frozen model replaced through
        # PUT /model would never be collected
        if serving is not None:
            serving()  # a forked server: it inherited the guard warm
        else:
            # XIAOER_RASA_FORK=false: the guard is warmed now, off the loop, so that a first
            # reply in the next seconds waits less for it
            threading.Thread(target=warm_guard, name="warm-guard", daemon=True).start()

    stage("loading the model")
    rasa.core.run.serve_application(
        model_path=model,
        credentials=credentials,
        endpoints=endpoints_with_secret(endpoints),
        interface=rasa_host(),
        port=rasa_port(),
        enable_api=True,
        auth_token=get_secret("rasa_api"),
        cors=None,
        server_listeners=[(started, "after_server_start")],
    )


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv not in (["actions"], ["rasa"]):
        print("usage: python -m xiaoer.serve actions|rasa", file=sys.stderr)
        return 2
    # before Rasa or spaCy is imported: TensorFlow & co. run only if the model uses them
    from xiaoer.gcwatch import watch_from_env
    from xiaoer.lazy_imports import install

    install()
    watch_from_env()  # XIAOER_GC_STATS: collection pauses in the log
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lock_down()
    run_actions() if argv == ["actions"] else run_rasa()
    return 0


if __name__ == "__main__":
    sys.exit(main())
