"""The request parser at the edge, over generated input: JSON bodies, their
media type, query strings and the KC-API-* headers. Whatever arrives, the
answer is a value read exactly or one of the errors the KuCoin envelope
carries (InvalidInput, UnsupportedMediaType, AuthError), never anything else;
what is refused is exactly what the documented rule refuses."""

from __future__ import annotations

import itertools
import re
import string

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from kuledger.domain.errors import InvalidInput
from kuledger.http.auth import Authenticator, AuthError, InvalidTimestamp, SignedRequest
from kuledger.http.body import body_fields, is_json_media_type
from kuledger.http.errors import UnsupportedMediaType
from kuledger.http.params import query_fields
from kuledger.services import keys, users
from kuledger_client.signing import auth_headers

JSON = "application/json"
_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4)
    ),
    max_leaves=12,
)
_objects = st.dictionaries(_text, _json, max_size=6)


# --- bodies ---


@given(_objects)
def test_a_json_object_reads_back_as_sent(value):
    assert body_fields(orjson.dumps(value), JSON).values == value


@given(st.binary(max_size=200) | _json.map(orjson.dumps))
def test_any_bytes_are_read_or_refused_as_invalid_input(raw):
    try:
        fields = body_fields(raw, JSON)
    except InvalidInput as exc:
        assert exc.field  # names what is wrong
    else:
        assert fields.values == orjson.loads(raw)


@given(_objects, _text, _json, st.data())
def test_a_key_given_twice_anywhere_is_refused_naming_it(value, key, again, data):
    value = {**value, key: again}
    # the repeated key goes at the top, or into an object nested in a value
    nested = data.draw(st.booleans())
    member = orjson.dumps(key) + b":" + orjson.dumps(again)
    pair = orjson.dumps(value)[1:-1]
    doubled = b"{" + pair + b"," + member + b"}"
    raw = b'{"outer":' + doubled + b"}" if nested else doubled
    with pytest.raises(InvalidInput) as refused:
        body_fields(raw, JSON)
    assert refused.value.field == key[:64]
    assert refused.value.message == f"{key[:64]} is given more than once"


_ows = st.sampled_from(["", " ", "\t", "  "])
_token = st.text(string.ascii_letters + string.digits + "!#$%&'*+.^_`|~-", min_size=1)


@given(
    st.lists(st.booleans(), min_size=16, max_size=16),
    st.lists(st.tuples(_ows, _token, _token), max_size=3),
    st.sampled_from([None, "utf-8", "UTF-8", "utf8", '"utf-8"']),
)
def test_application_json_in_any_case_with_parameters_is_accepted(
    upper, parameters, charset
):
    media = "".join(c.upper() if up else c for c, up in zip(JSON, upper, strict=False))
    params = [(ows, n, v) for ows, n, v in parameters if n.lower() != "charset"]
    if charset is not None:
        params.append(("", "charset", charset))
    header = media + "".join(f"{ows};{ows}{n}={v}" for ows, n, v in params)
    assert is_json_media_type(header)


@given(st.text(max_size=60))
def test_any_other_media_type_is_refused(content_type):
    kind = content_type.split(";", 1)[0].strip(" \t").lower()
    accepted = is_json_media_type(content_type)
    if kind != JSON:
        assert not accepted
    if not accepted:
        with pytest.raises(UnsupportedMediaType):
            body_fields(b"{}", content_type)


# --- query strings ---

_names = st.sampled_from(["currency", "pageSize", "startAt", "a", "b"])


@given(st.lists(st.tuples(_names, st.text(max_size=8)), max_size=6))
def test_a_query_parameter_given_twice_is_refused_naming_the_first(pairs):
    params = QueryParams(pairs)
    names = [name for name, _ in pairs]
    twice = [n for i, n in enumerate(names) if n in names[:i]]
    if not twice:
        assert query_fields(params).values == dict(pairs)
        return
    with pytest.raises(InvalidInput) as refused:
        query_fields(params)
    assert refused.value.field == twice[0]


# --- KC-API-* headers ---

_uids = itertools.count(1)
# Header values as the server decodes them: latin-1, no control characters.
_header = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=30,
)
_digits_of_other_scripts = st.text(
    st.characters(categories=["Nd", "No"], exclude_characters=string.digits),
    min_size=1,
    max_size=4,
)


def _request(headers: dict[str, str]) -> SignedRequest:
    return SignedRequest(
        {k.lower(): v for k, v in headers.items()},
        "GET",
        "/api/v1/accounts",
        "",
        "",
        "127.0.0.1",
    )


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.integers(-7000, 7000).map(lambda skew: ("skew", skew)),
        _header.map(lambda text: ("text", text)),
        _digits_of_other_scripts.map(lambda text: ("text", text)),
    ),
    st.sampled_from([None, "1", "2", "3"]) | _header,
    st.dictionaries(st.sampled_from(["KC-API-KEY", "KC-API-PASSPHRASE"]), _header),
)
def test_signed_headers_authenticate_exactly_when_the_rules_say(
    container, timestamp, version, changes
):
    uid = f"p{next(_uids)}"
    users.create_user(container.uow, container.clock, uid=uid)
    key = keys.create_key(container.uow, container.box, container.clock, uid=uid)
    auth = Authenticator(container.reader, container.box, container.clock, 5000)
    now = container.clock()
    kind, given_stamp = timestamp
    stamp = str(now + given_stamp) if kind == "skew" else given_stamp
    assume(stamp)
    signed = auth_headers(
        key.key, key.secret, key.passphrase, stamp, "GET", "/api/v1/accounts"
    )
    headers = {**signed, **changes}
    headers.pop("KC-API-KEY-VERSION")
    if version is not None:
        headers["KC-API-KEY-VERSION"] = version
    valid_stamp = bool(re.fullmatch(r"[0-9]{1,16}", stamp)) and (
        abs(now - int(stamp)) <= 5000
    )
    # a version-3 key: its HMAC'ed passphrase, announced as 2 or 3 or not at all
    accepted = (
        valid_stamp
        and all(headers[name] == signed[name] for name in changes)
        and version in (None, "2", "3")
    )
    try:
        principal = auth.authenticate(_request(headers), None)
    except InvalidTimestamp:
        assert not valid_stamp
    except AuthError:
        assert not accepted, headers
    else:
        assert accepted, headers
        assert principal.uid == uid
