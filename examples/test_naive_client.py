"""The fuzz test of NaiveClient: it FAILS, on purpose.

NaiveClient calls raise_for_status() on every answer and never retries, so the first
scenario that injects a 429, a 5xx or a broken connection breaks it. The failure leaves
a replay bundle, and the report names the command that serves the same scenario again:

    pytest examples/test_naive_client.py      # fails, and prints: mockserver replay .mockserver/failures/...json
    mockserver replay .mockserver/failures/test_naive_client-...json    # serves it on 127.0.0.1:8000
    python examples/apixo_client.py --naive --no-sleep nano-banana "a red fox in the snow"

The last command raises the same error, outside pytest. (tests/test_examples.py runs all three.)
"""

from __future__ import annotations

from apixo_client import NaiveClient, TaskFailed
from hypothesis import HealthCheck, given, settings

from mockserver.strategies import scenarios

JOB = ("nano-banana", {"mode": "text-to-image", "prompt": "a red fox in the snow"})


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    report_multiple_bugs=False,  # one failure, so the bundle is the scenario reported
)
@given(scenario=scenarios(models=["nano-banana"]))
def test_the_naive_client_gets_through_every_scenario(mock_api, scenario):
    mock_api.load(scenario)
    with mock_api.client() as http:
        client = NaiveClient(http, mock_api.api_key, sleep=lambda s: mock_api.advance(ms=round(s * 1000)))
        try:
            result = client.generate(*JOB)
        except TaskFailed as failed:
            assert failed.code
        else:
            assert result.files and all(f.startswith(b"\x89PNG") for f in result.files)
