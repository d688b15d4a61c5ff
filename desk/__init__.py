"""The desk: storefront widget, human-handoff queue and live agent console in
front of Rasa (issue 5). `create_app(config)` builds the aiohttp application;
`python -m desk` runs it. No Rasa import: Rasa is reached over HTTP only."""

from desk.app import create_app
from desk.config import DeskConfig, load_config

__all__ = ["DeskConfig", "create_app", "load_config"]
