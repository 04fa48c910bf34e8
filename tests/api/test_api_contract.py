"""The OpenAPI contract, fuzzed by schemathesis with every check on, against the app served in this
process: no 5xx, every answer conforms to its documented status, content type, headers and schema,
invalid requests are refused, valid ones accepted, and unauthenticated requests are refused where the
document says a route needs a token. (Driven operation by operation from the schema's own Hypothesis
strategies: schemathesis' pytest fixture loader does not work with pytest 9.)"""
from __future__ import annotations

from api_support import bearer
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks

load_all_checks()
# max_response_time needs a configured bound; the rest run as they come
EVERY_CHECK = [c for c in CHECKS.get_all() if c.__name__ != "max_response_time"]


def test_every_check_is_on() -> None:
    names = {c.__name__ for c in EVERY_CHECK}
    assert {"not_a_server_error", "status_code_conformance", "content_type_conformance",
            "response_schema_conformance", "response_headers_conformance", "ignored_auth",
            "negative_data_rejection", "positive_data_acceptance", "unsupported_method"} <= names


def test_the_api_keeps_its_contract(api_schema, api_token: str) -> None:  # type: ignore[no-untyped-def]
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 8
    tried = []
    for operation in operations:
        # an operation without parameters (/healthz, /v1/freshness) has no invalid request to make
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if list(operation.iter_parameters()) else [])
        for mode in modes:
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def run(case) -> None:  # type: ignore[no-untyped-def]
                case.call_and_validate(headers=bearer(api_token), checks=EVERY_CHECK)

            run()
            tried.append((operation.label, mode.value))
    assert len(tried) > len(operations) + 5
