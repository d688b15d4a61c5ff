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
"""

from __future__ import annotations

import hmac
import logging
import os
import sys
from pathlib import Path
from typing import List, Optional

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
    """endpoints.yml, with the action secret added to the action endpoint's headers."""
    from rasa.core.utils import AvailableEndpoints

    endpoints = AvailableEndpoints.read_endpoints(path)
    if endpoints.action is not None:
        endpoints.action.headers = {**(endpoints.action.headers or {}), ACTION_HEADER: get_secret("action")}
    return endpoints


def run_rasa() -> None:
    _setdefault_env()
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
    model = os.environ.get("XIAOER_MODEL") or str(REPO / "models" / "current.tar.gz")
    endpoints = os.environ.get("XIAOER_ENDPOINTS") or str(REPO / "endpoints.yml")
    credentials = os.environ.get("XIAOER_CREDENTIALS") or str(REPO / "credentials.yml")
    rasa.core.run.serve_application(
        model_path=model,
        credentials=credentials,
        endpoints=endpoints_with_secret(endpoints),
        interface=rasa_host(),
        port=rasa_port(),
        enable_api=True,
        auth_token=get_secret("rasa_api"),
        cors=None,
    )


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv not in (["actions"], ["rasa"]):
        print("usage: python -m xiaoer.serve actions|rasa", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lock_down()
    run_actions() if argv == ["actions"] else run_rasa()
    return 0


if __name__ == "__main__":
    sys.exit(main())
