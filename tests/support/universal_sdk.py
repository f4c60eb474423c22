"""KuCoin's official universal SDK pointed at a running kuledger."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kucoin_universal_sdk.api.client import DefaultClient
from kucoin_universal_sdk.model.client_option import ClientOptionBuilder
from kucoin_universal_sdk.model.transport_option import TransportOptionBuilder

from tests.support.server import ApiUser, Server


@contextmanager
def account_service(server: Server, user: ApiUser) -> Iterator[Any]:
    """The SDK's Account service signed by `user`; every host -> server."""
    base = server.base_url
    option = (
        ClientOptionBuilder()
        .set_key(user.key)
        .set_secret(user.secret)
        .set_passphrase(user.passphrase)
        .set_spot_endpoint(base)
        .set_futures_endpoint(base)
        .set_broker_endpoint(base)
        .set_transport_option(TransportOptionBuilder().build())
        .build()
    )
    service = DefaultClient(option).rest_service().get_account_service()
    try:
        yield service
    finally:
        service.get_account_api().transport.close()
