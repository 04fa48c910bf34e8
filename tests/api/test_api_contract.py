"""The OpenAPI contract, fuzzed in-process by schemathesis with every check on: no 5xx, every answer
conforms to its documented status, content type, headers and schema, and unauthenticated requests
are refused where the document says a route needs a token."""
from __future__ import annotations

import schemathesis
from api_support import bearer
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks

load_all_checks()
# max_response_time needs a configured bound; the rest run as they come
EVERY_CHECK = [c for c in CHECKS.get_all() if c.__name__ != "max_response_time"]

schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_contract(case, api_token: str) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(headers=bearer(api_token), checks=EVERY_CHECK)


def test_every_check_is_on() -> None:
    names = {c.__name__ for c in EVERY_CHECK}
    assert {"not_a_server_error", "status_code_conformance", "content_type_conformance",
            "response_schema_conformance", "response_headers_conformance", "ignored_auth",
            "negative_data_rejection", "positive_data_acceptance", "unsupported_method"} <= names
