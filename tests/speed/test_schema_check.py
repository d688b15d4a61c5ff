"""The once-per-schema check keeps every verdict of jsonschema.validate on Rasa's
action-server responses: good answers pass, bad ones are refused with the same error."""

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from xiaoer import schema_check


@pytest.fixture
def installed():
    schema_check.install()
    yield
    schema_check.uninstall()


def rasa_validates(result) -> bool:
    # what Rasa runs on every action-server answer
    return RemoteAction("action_look_up_order", None)._validate_action_result(result)


def test_rasa_uses_it(installed):
    assert jsonschema.validate is schema_check.validate


def test_a_good_answer_passes(installed):
    good = {
        "events": [{"event": "slot", "name": "order_id", "value": "T1"}],
        "responses": [{"response": "utter_order_status", "text": "亲,已发货"}],
    }
    assert rasa_validates(good)
    assert rasa_validates(good)  # and again, with the schema already checked


@pytest.mark.parametrize(
    "bad",
    [
        {"events": "not a list"},
        {"events": [{"no_event_key": 1}]},
        {"events": [{"event": "slot", "name": "x", "value": 1}], "responses": "hello"},
    ],
)
def test_a_bad_answer_is_refused_as_before(installed, bad):
    schema_check.uninstall()
    with pytest.raises(jsonschema.ValidationError) as before:
        rasa_validates(bad)
    schema_check.install()
    for _ in range(2):
        with pytest.raises(jsonschema.ValidationError) as now:
            rasa_validates(bad)
        assert now.value.message == before.value.message


def test_a_bad_schema_still_fails_every_time(installed):
    for _ in range(2):
        with pytest.raises(jsonschema.SchemaError):
            jsonschema.validate({}, {"type": "no-such-type"})
