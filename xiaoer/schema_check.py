"""The action server's answer is validated once per call, its schema once per process.

Rasa 3.6 checks every action-server response with `jsonschema.validate(result,
RemoteAction.action_response_format_spec())`. `jsonschema.validate` first
validates the *schema itself* against its metaschema (`check_schema`), then the
response. Rasa's schema is a constant, so that first step repeats identical
work on every action call; under load it was 43 % of the Rasa process's CPU
(py-spy, `benchmarks/capacity.py --profile`, README "How fast"): two action
calls per turn, ~30 ms each on this box.

`install()` (called by `python -m xiaoer.serve rasa`, before the model loads)
replaces `jsonschema.validate` in this process with the same function that
remembers which schemas already passed `check_schema`. Every response is still
validated in full, with the same validator class and the same error
(`best_match`); a schema that fails its check still raises every time. Rasa's
own code is untouched: it imports `validate` from jsonschema at each call."""

from __future__ import annotations

import json
import threading
from typing import Any, Set, Tuple

_checked: Set[Tuple[type, str]] = set()
_lock = threading.Lock()
_original = None


def _key(cls: type, schema: Any) -> Tuple[type, str]:
    return cls, json.dumps(schema, sort_keys=True, default=repr)


def validate(instance: Any, schema: Any, cls: Any = None, *args: Any, **kwargs: Any) -> None:
    """jsonschema.validate (4.x), with check_schema done once per distinct schema."""
    from jsonschema import exceptions, validators

    if cls is None:
        cls = validators.validator_for(schema)
    key = _key(cls, schema)
    if key not in _checked:
        cls.check_schema(schema)  # raises SchemaError for a bad schema, as before
        with _lock:
            _checked.add(key)
    validator = cls(schema, *args, **kwargs)
    error = exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def install() -> None:
    global _original
    import jsonschema

    if jsonschema.validate is validate:
        return
    _original = jsonschema.validate
    jsonschema.validate = validate


def uninstall() -> None:
    import jsonschema

    if _original is not None:
        jsonschema.validate = _original
