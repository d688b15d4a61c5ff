"""xiaoer.secrets: environment first, else a generated 0600 file that every
process of the machine shares; the desk's old key file is migrated."""

from __future__ import annotations

import stat

import pytest

from xiaoer.secrets import get_secret


def test_generated_once_0600_and_shared(tmp_path, monkeypatch):
    monkeypatch.setenv("XIAOER_SECRETS_DIR", str(tmp_path / "s"))
    monkeypatch.delenv("XIAOER_ACTION_SECRET", raising=False)
    first = get_secret("action")
    assert len(first) >= 40 and get_secret("action") == first
    assert stat.S_IMODE((tmp_path / "s").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "s" / "action").stat().st_mode) == 0o600
    assert get_secret("channel") != first


def test_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("XIAOER_SECRETS_DIR", str(tmp_path / "s"))
    monkeypatch.setenv("XIAOER_RASA_API_SECRET", "from-the-environment")
    assert get_secret("rasa_api") == "from-the-environment"
    assert not (tmp_path / "s" / "rasa_api").exists()


@pytest.mark.parametrize("name", ["../etc", "", "A", "x" * 40, "a/b"])
def test_bad_names(name):
    with pytest.raises(ValueError):
        get_secret(name)


def test_old_desk_key_is_moved(tmp_path, monkeypatch):
    import desk.config as dc

    monkeypatch.setenv("XIAOER_SECRETS_DIR", str(tmp_path / "s"))
    monkeypatch.delenv("XIAOER_DESK_SECRET", raising=False)
    monkeypatch.setattr(dc, "VAR", tmp_path)
    (tmp_path / "desk_secret").write_text("old-key-of-issued-tokens")
    assert dc.desk_secret() == "old-key-of-issued-tokens"
    assert not (tmp_path / "desk_secret").exists()
    assert stat.S_IMODE((tmp_path / "s" / "desk").stat().st_mode) == 0o600
