"""Bearer tokens and roles: every route but health and metrics needs a live token.

No ``from __future__ import annotations``: FastAPI reads these dependencies' annotations.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from loneguard.server.admin.tokens import hash_token
from loneguard.server.store import Role, Store

_bearer = HTTPBearer(auto_error=False, description="an API token from `loneguard-hub token`")

# Roles that may change alarms (acknowledge, resolve); viewers only read.
RESPONDERS = frozenset({Role.ADMIN, Role.MANAGER})


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role


def authenticator(store: Store) -> Callable[..., Principal]:
    def principal(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise _unauthorized("a bearer token is required")
        return _holder(store, credentials)

    return principal


def optional_authenticator(store: Store) -> Callable[..., Principal | None]:
    """The token's holder, or ``None`` when no token is sent (a wrong token is still refused)."""

    def principal(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal | None:
        return None if credentials is None else _holder(store, credentials)

    return principal


def _holder(store: Store, credentials: HTTPAuthorizationCredentials) -> Principal:
    token = store.token_by_hash(hash_token(credentials.credentials))
    if token is None:
        raise _unauthorized("the token is unknown or revoked")
    return Principal(token.name, token.role)


def responder(principal: Callable[..., Principal]) -> Callable[..., Principal]:
    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role not in RESPONDERS:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"the {who.role} role may only read")
        return who

    return check


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def admin(principal: Callable[..., Principal]) -> Callable[..., Principal]:
    """People records and devices are the admin's to change."""

    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role != Role.ADMIN:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin may change this")
        return who

    return check
