"""The rendering check every action test runs (conftest.assert_rendered) fails
where a shopper would see a broken message."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from tests.actions.conftest import assert_rendered, make_tracker


async def test_a_value_the_action_forgot_is_caught():
    d = CollectingDispatcher()
    d.utter_message(response="utter_order_not_found")  # needs {order_id}
    with pytest.raises(AssertionError, match="unfilled"):
        await assert_rendered(d, make_tracker("查订单"))
    d = CollectingDispatcher()
    d.utter_message(response="utter_order_not_found", order_id="DD20241117001")
    seen = await assert_rendered(d, make_tracker("查订单"))
    assert "DD20241117001" in seen[0]["text"] and seen[0]["response"] == "utter_order_not_found"


async def test_a_response_the_domain_lacks_is_caught():
    d = CollectingDispatcher()
    d.utter_message(response="utter_no_such_reply")
    with pytest.raises(AssertionError, match="missing from the domain"):
        await assert_rendered(d, make_tracker("你好"))
