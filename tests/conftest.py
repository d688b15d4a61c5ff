"""Suite-wide setup: the pinned test store.

Every `load_store()` / `get_store()` without a path reads $XIAOER_STORE, and
processes started by tests inherit it; set here, before any test module is
imported, it makes the whole suite read tests/fixtures/store.yml instead of the
shop's live store.yml. Only tests/test_store_yml.py reads the real one.
"""

import os

from tests.fixtures import STORE_PATH

os.environ["XIAOER_STORE"] = str(STORE_PATH)
