"""Authentication and authorization: bad tokens are 401, a missing scope 403, and a region-scoped
caller sees its own region's rows only, with another region's objects answered exactly like ones
that do not exist (OWASP API1)."""
from __future__ import annotations

import base64
import json
import time

import pytest
from api_support import Gold, bearer, month_range, regions
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

KPI = "/v1/kpis/enrollments-daily"


def _kpi(client: TestClient, gold: Gold, headers: dict[str, str], **params: str):  # type: ignore[no-untyped-def]
    first, last = month_range(gold)
    return client.get(KPI, params={"from": first, "to": last, **params}, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict[str, object]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "ec-1"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def test_a_valid_token_of_either_algorithm_reads(client: TestClient, api_gold: Gold, token) -> None:  # type: ignore[no-untyped-def]
    for alg in ("ES256", "RS256"):
        answer = _kpi(client, api_gold, bearer(token(alg=alg)))
        assert answer.status_code == 200, (alg, answer.text)
        assert answer.json()["items"]


def test_bad_tokens_are_refused_with_401(client: TestClient, api_gold: Gold, token, keys) -> None:  # type: ignore[no-untyped-def]
    now = int(time.time())
    good = token()
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    tampered_payload = _b64(json.dumps({**claims, "lakehouse_regions": "*", "sub": "someone-else"}).encode())
    public_pem = keys.ec.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    hs256_with_public_key = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "ec-1"}).encode()) + "." + payload
    import hashlib
    import hmac
    hs256_with_public_key += "." + _b64(hmac.new(public_pem, hs256_with_public_key.encode(), hashlib.sha256).digest())
    bad = {
        "no header": None,
        "not bearer": f"Basic {good}",
        "not a JWT": "Bearer not-a-token",
        "wrong issuer": f"Bearer {token(iss='https://evil.test/')}",
        "wrong audience": f"Bearer {token(aud='another-api')}",
        "expired": f"Bearer {token(iat=now - 3600, exp=now - 600)}",
        "no expiry": f"Bearer {token(exp=None)}",
        "no subject": f"Bearer {token(sub=None)}",
        "alg none": f"Bearer {_unsigned(claims)}",
        "HS256 signed with the public key": f"Bearer {hs256_with_public_key}",
        "tampered payload": f"Bearer {header}.{tampered_payload}.{signature}",
        "signed by an unknown key": f"Bearer {token(key=keys.stranger)}",
        "unknown kid": f"Bearer {token(kid='nobody')}",
        "RS256 header on the EC key": f"Bearer {token(alg='RS256', kid='ec-1')}",
        "ES384": f"Bearer {_b64(json.dumps({'alg': 'ES384', 'typ': 'JWT', 'kid': 'ec-1'}).encode())}.{payload}.{signature}",
    }
    for case, value in bad.items():
        answer = _kpi(client, api_gold, {"Authorization": value} if value else {})
        assert answer.status_code == 401, (case, answer.status_code, answer.text)
        assert answer.headers["content-type"] == "application/problem+json", case
        assert answer.headers["www-authenticate"].startswith("Bearer"), case
        assert good not in answer.text and "Traceback" not in answer.text, case


def test_a_missing_scope_is_403_on_each_route(client: TestClient, api_gold: Gold, token) -> None:  # type: ignore[no-untyped-def]
    (enrollment,), = api_gold.rows("SELECT enrollment_id FROM gold.fct_enrollments LIMIT 1")
    only_kpis = bearer(token(scopes=["kpi:read"]))
    only_enrollments = bearer(token(scopes=["enrollment:read"]))
    assert _kpi(client, api_gold, only_kpis).status_code == 200
    assert _kpi(client, api_gold, only_enrollments).status_code == 403
    assert client.get(f"/v1/enrollments/{enrollment}", headers=only_kpis).status_code == 403
    assert client.get(f"/v1/enrollments/{enrollment}", headers=only_enrollments).status_code == 200
    assert client.get("/v1/freshness", headers=only_kpis).status_code == 403
    assert client.get("/v1/offices", headers=only_enrollments).status_code == 403
    assert client.get("/v1/freshness", headers=bearer(token(scopes=["freshness:read"]))).status_code == 200


def test_a_token_without_a_region_reads_nothing(client: TestClient, api_gold: Gold, token) -> None:  # type: ignore[no-untyped-def]
    assert _kpi(client, api_gold, bearer(token(regions=None))).status_code == 403
    assert _kpi(client, api_gold, bearer(token(regions=[]))).status_code == 403


@pytest.fixture(scope="module")
def two_regions(api_gold: Gold) -> tuple[str, str]:
    found = regions(api_gold)
    assert len(found) >= 2, "the month should span two regions at least"
    return found[0], found[1]


def test_a_region_scoped_caller_gets_only_its_regions_rows(client: TestClient, api_gold: Gold, token,  # type: ignore[no-untyped-def]
                                                           two_regions: tuple[str, str]) -> None:
    mine, theirs = two_regions
    headers = bearer(token(regions=[mine]))
    first, last = month_range(api_gold)
    for path, table in (("/v1/kpis/enrollments-daily", "kpi_enrollments_daily"),
                        ("/v1/kpis/validation-times-daily", "kpi_validation_times_daily"),
                        ("/v1/kpis/offices-daily", "kpi_office_daily")):
        answer = client.get(path, params={"from": first, "to": last, "page_size": 200}, headers=headers)
        assert answer.status_code == 200, answer.text
        got = {item["region"] for item in answer.json()["items"]}
        expected, = api_gold.rows(f"SELECT count(*) FROM gold.{table} WHERE region = %s AND date BETWEEN %s AND %s",
                                  (mine, first, last))
        assert got == ({mine} if expected[0] else set()), path
        assert len(answer.json()["items"]) == expected[0], path
        # asking for the other region by filter is an empty page, not its rows
        other = client.get(path, params={"from": first, "to": last, "region": theirs}, headers=headers)
        assert other.status_code == 200 and other.json()["items"] == [], path
    offices = client.get("/v1/offices", params={"page_size": 200}, headers=headers).json()["items"]
    assert offices and {o["region"] for o in offices} == {mine}


def test_another_regions_objects_are_404_like_missing_ones(client: TestClient, api_gold: Gold, token,  # type: ignore[no-untyped-def]
                                                           two_regions: tuple[str, str]) -> None:
    mine, theirs = two_regions
    headers = bearer(token(regions=[mine]))
    (their_enrollment,), = api_gold.rows("SELECT enrollment_id FROM gold.fct_enrollments WHERE region = %s LIMIT 1",
                                         (theirs,))
    (their_office,), = api_gold.rows("SELECT office_id FROM gold.dim_office WHERE region = %s AND is_current LIMIT 1",
                                     (theirs,))
    (my_enrollment,), = api_gold.rows("SELECT enrollment_id FROM gold.fct_enrollments WHERE region = %s LIMIT 1",
                                      (mine,))
    assert client.get(f"/v1/enrollments/{my_enrollment}", headers=headers).status_code == 200
    for kind, existing, missing in (("enrollments", their_enrollment, "no-such-enrollment-0000"),
                                    ("offices", their_office, "no-such-office-0000")):
        hidden = client.get(f"/v1/{kind}/{existing}", headers=headers)
        absent = client.get(f"/v1/{kind}/{missing}", headers=headers)
        assert hidden.status_code == absent.status_code == 404, kind
        assert hidden.json() == absent.json(), "the answer must not tell another region's object from none"
        assert {k: v for k, v in hidden.headers.items() if k != "content-length"} == \
            {k: v for k, v in absent.headers.items() if k != "content-length"}
    every_region = bearer(token(regions="*"))
    assert client.get(f"/v1/enrollments/{their_enrollment}", headers=every_region).status_code == 200


def test_no_header_but_authorization_is_trusted(client: TestClient, api_gold: Gold, token,  # type: ignore[no-untyped-def]
                                                two_regions: tuple[str, str]) -> None:
    mine, theirs = two_regions
    (their_enrollment,), = api_gold.rows("SELECT enrollment_id FROM gold.fct_enrollments WHERE region = %s LIMIT 1",
                                         (theirs,))
    forged = {**bearer(token(regions=[mine])), "X-Forwarded-For": "10.0.0.1", "X-Amzn-Oidc-Data": "x",
              "X-Lakehouse-Regions": "*", "X-Apigateway-Claims": json.dumps({"lakehouse_regions": "*"})}
    assert client.get(f"/v1/enrollments/{their_enrollment}", headers=forged).status_code == 404
    assert client.get("/v1/freshness", headers={"X-Amzn-Oidc-Identity": "admin"}).status_code == 401

