"""Schemathesis over the served OpenAPI document against a real Waitress server: no 5xx.

Valid and invalid inputs (positive and negative generation), bounded (12 examples per
operation and mode) to well under a minute. The endless streams
(live status, preview) and the power actions are left out; they have their own tests.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (dev extra) missing")
import itertools  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

from appliance.states import State  # noqa: E402
from tests.web_fixtures import dashboard  # noqa: E402
from tests.webclient import serve  # noqa: E402

EXCLUDED = r"^/api/(events|preview\.mjpeg|system/(restart|shutdown))$"


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schemathesis")
    with dashboard(tmp, autostart=True) as d:
        assert d.appliance.controller.wait_for_state(State.RECORDING)
        d.appliance.wait_segments(2)
        with serve(d.app) as (host, port):
            base = f"http://{host}:{port}"
            schema = schemathesis.openapi.from_url(base + "/api/openapi.json")
            yield schema.exclude(path_regex=EXCLUDED)
        # Whatever was thrown at it, the appliance still runs.
        assert d.appliance.controller.state in (State.RECORDING, State.IDLE)


def test_no_input_makes_the_api_fail_with_a_5xx(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    calls = []
    for operation, mode in itertools.product(operations, GenerationMode):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case):
            response = case.call_and_validate(checks=[not_a_server_error], timeout=10)
            calls.append((case.operation.label, response.status_code))

        try:
            run()  # raises with the failing case on the first 5xx
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to get wrong
    statuses = {status for _, status in calls}
    assert len(calls) >= 10 * len(operations)
    assert any(400 <= s < 500 for s in statuses) and any(s < 300 for s in statuses), statuses
