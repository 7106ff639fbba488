"""``Authorization: Bearer <token>``: the system the token was issued to, acting as its
service user. A missing, unknown or revoked token is refused with 401."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from .models import ApiClient
from .tokens import client_for_token

# Longer than any token we issue; anything longer is refused without a lookup.
MAX_TOKEN_LENGTH = 200


class ApiTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiClient] | None:
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != self.keyword.lower().encode():
            raise exceptions.AuthenticationFailed(
                "Give the token as 'Authorization: Bearer <token>'."
            )
        if len(header) != 2 or len(header[1]) > MAX_TOKEN_LENGTH:
            raise exceptions.AuthenticationFailed(
                "Give the token as 'Authorization: Bearer <token>', with no spaces in it."
            )
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        client = client_for_token(token)
        if client is None:
            raise exceptions.AuthenticationFailed("The token is not valid.")
        request.api_client_seen = client
        if client.is_revoked:
            raise exceptions.AuthenticationFailed(
                "This token has been revoked. Ask a partnership admin for a new one."
            )
        if not client.user.is_active:
            raise exceptions.AuthenticationFailed("This system is not in use.")
        return client.user, client

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'
