"""``/api/v1/auth``: first-run bootstrap, registration, login/logout, password, two-factor."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from quart import Blueprint, after_this_request
from quart.typing import ResponseTypes
from quart_schema import validate_request, validate_response

from meshploy_core.accounts import tokens, twofactor, users
from meshploy_core.accounts.authn import SESSION_COOKIE, csrf_token_for
from meshploy_core.accounts.ratelimit import LoginRateLimiter
from meshploy_core.audit import Actor
from meshploy_core.authorization.policy import public, requires
from meshploy_core.organizations import registration
from meshploy_core.web.context import actor, client_ip, current_user, db, principal, settings
from meshploy_core.web.fields import Input, Name
from meshploy_core.web.openapi import destructive, no_content, problems
from meshploy_gateway.api.models import (
    AnyPassword,
    Email,
    NewPassword,
    OrgOut,
    RecoveryCodeText,
    SecretToken,
    TotpCode,
    UserOut,
)

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")


class AuthStatus(BaseModel):
    """Whether the instance still waits for its first account."""

    bootstrap_required: bool
    registration: Literal["open", "invitation"]


class RegisterIn(Input):
    """A new account. Without an invitation this only works for the very first account."""

    email: Email
    password: NewPassword
    display_name: str = Field("", max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")
    organization_name: Name | None = Field(
        None, description="First run only: the name of the organization to create."
    )
    invitation_token: SecretToken | None = None


class RegisterOut(BaseModel):
    """The new account and the organization it belongs to."""

    user: UserOut
    organization: OrgOut


class LoginIn(Input):
    """Credentials. ``session`` picks a browser cookie or a bearer token for API clients."""

    email: Email
    password: AnyPassword
    totp_code: TotpCode | None = None
    recovery_code: RecoveryCodeText | None = None
    session: Literal["bearer", "cookie"] = "bearer"


class LoginOut(BaseModel):
    """A new login session: a bearer token (shown once) or a cookie plus its CSRF token."""

    token_type: Literal["bearer", "cookie"]
    token: str | None = Field(None, description="Bearer sessions only; shown once.")
    csrf_token: str | None = Field(
        None, description="Cookie sessions only: send as X-CSRF-Token on writes."
    )
    expires_at: datetime
    user: UserOut


class Credential(BaseModel):
    """The credential this request used."""

    token_id: uuid.UUID
    kind: Literal["personal", "agent", "session"]
    scope: Literal["read", "full"]
    org_id: uuid.UUID | None
    expires_at: datetime | None
    via: Literal["bearer", "cookie"]


class MeOut(BaseModel):
    """The caller: account, credential, and for cookie sessions the CSRF token."""

    user: UserOut
    credential: Credential
    csrf_token: str | None = None


class PasswordIn(Input):
    """A password change. Other login sessions end; API tokens keep working."""

    current_password: AnyPassword
    new_password: NewPassword


class TotpSetupOut(BaseModel):
    """A new TOTP secret (shown once): add it to an authenticator app, then enable."""

    secret: str
    otpauth_uri: str


class CodeIn(Input):
    """A current TOTP code."""

    code: TotpCode


class TotpDisableIn(Input):
    """Turning two-factor off needs the password and a code (or a recovery code)."""

    password: AnyPassword
    code: TotpCode | None = None
    recovery_code: RecoveryCodeText | None = None


class RecoveryCodesOut(BaseModel):
    """One-time recovery codes (shown once; each works once instead of a TOTP code)."""

    recovery_codes: list[str]


@bp.get("/status")
@public
@validate_response(AuthStatus)
async def auth_status() -> AuthStatus:
    """Whether the first account still has to be created."""
    done = await users.is_bootstrapped(db())
    return AuthStatus(bootstrap_required=not done, registration="invitation" if done else "open")


@bp.post("/register")
@public
@problems(403, 404, 409)
@validate_request(RegisterIn)
@validate_response(RegisterOut, 201)
async def register(data: RegisterIn) -> tuple[RegisterOut, int]:
    """Create an account (the first owns a new organization; later ones need an invitation)."""
    session = db()
    result = await registration.register(
        session,
        actor(),
        email=data.email,
        password=data.password,
        display_name=data.display_name,
        organization_name=data.organization_name,
        invitation_token=data.invitation_token,
        rounds=settings().bcrypt_rounds,
    )
    await session.commit()
    out = RegisterOut(
        user=UserOut.of(result.user), organization=OrgOut.of(result.organization, result.role)
    )
    return out, 201


@bp.post("/login")
@public
@problems(401, 429)
@validate_request(LoginIn)
@validate_response(LoginOut)
async def login(data: LoginIn) -> LoginOut:
    """Log in with email and password (and a second factor when enabled)."""
    conf, session = settings(), db()
    user = await users.login(
        session,
        LoginRateLimiter.from_settings(conf),
        actor(),
        email=data.email,
        password=data.password,
        totp_code=data.totp_code,
        recovery_code=data.recovery_code,
        rounds=conf.bcrypt_rounds,
    )
    issued = await tokens.create_session(
        session, Actor(user.id, None, client_ip()), user, conf.session_ttl, data.session
    )
    await session.commit()
    expires_at = issued.token.expires_at
    assert expires_at is not None
    if data.session == "bearer":
        return LoginOut(
            token_type="bearer",  # noqa: S106 (a type name, not a password)
            token=issued.secret,
            expires_at=expires_at,
            user=UserOut.of(user),
        )

    @after_this_request
    async def set_cookie(response: ResponseTypes) -> ResponseTypes:
        response.set_cookie(
            SESSION_COOKIE,
            issued.secret,
            max_age=conf.session_ttl,
            path="/",
            secure=conf.secure_cookies,
            httponly=True,
            samesite="Lax",
        )
        return response

    return LoginOut(
        token_type="cookie",  # noqa: S106 (a type name, not a password)
        csrf_token=csrf_token_for(issued.secret),
        expires_at=expires_at,
        user=UserOut.of(user),
    )


@bp.post("/logout")
@requires("account:write")
@destructive
@problems(409)
@no_content
async def logout() -> tuple[str, int]:
    """End the current login session (cookie or bearer)."""
    session, who = db(), principal()
    await tokens.end_session(session, actor(), who.token)
    await session.commit()
    if who.via == "cookie":
        conf = settings()

        @after_this_request
        async def clear_cookie(response: ResponseTypes) -> ResponseTypes:
            response.delete_cookie(
                SESSION_COOKIE, path="/", secure=conf.secure_cookies, httponly=True, samesite="Lax"
            )
            return response

    return "", 204


@bp.get("/me")
@requires("identity:read")
@validate_response(MeOut)
async def me() -> MeOut:
    """The caller's account and the credential in use."""
    who = principal()
    credential = Credential(
        token_id=who.token.id,
        kind=who.token.kind,
        scope=who.token.scope,
        org_id=who.token.org_id,
        expires_at=who.token.expires_at,
        via=who.via,
    )
    csrf = csrf_token_for(who.secret) if who.via == "cookie" else None
    return MeOut(user=UserOut.of(who.user), credential=credential, csrf_token=csrf)


@bp.post("/password")
@requires("account:write")
@destructive
@validate_request(PasswordIn)
@no_content
async def change_password(data: PasswordIn) -> tuple[str, int]:
    """Change your password; your other login sessions end."""
    session, who = db(), principal()
    await users.change_password(
        session,
        actor(),
        who.user,
        data.current_password,
        data.new_password,
        rounds=settings().bcrypt_rounds,
        keep_session=who.token.id if who.kind == tokens.SESSION else None,
    )
    await session.commit()
    return "", 204


@bp.post("/totp/setup")
@requires("account:write")
@problems(409)
@validate_response(TotpSetupOut)
async def totp_setup() -> TotpSetupOut:
    """Start two-factor enrolment: a new secret for your authenticator app (shown once)."""
    session = db()
    setup = await twofactor.begin_setup(session, actor(), current_user())
    await session.commit()
    return TotpSetupOut(secret=setup.secret, otpauth_uri=setup.uri)


@bp.post("/totp/enable")
@requires("account:write")
@problems(409)
@validate_request(CodeIn)
@validate_response(RecoveryCodesOut)
async def totp_enable(data: CodeIn) -> RecoveryCodesOut:
    """Turn two-factor on with a current code; returns one-time recovery codes (shown once)."""
    session = db()
    codes = await twofactor.enable(session, actor(), current_user(), data.code)
    await session.commit()
    return RecoveryCodesOut(recovery_codes=codes)


@bp.post("/totp/disable")
@requires("account:write")
@destructive
@problems(409)
@validate_request(TotpDisableIn)
@no_content
async def totp_disable(data: TotpDisableIn) -> tuple[str, int]:
    """Turn two-factor off (password and a code or recovery code required)."""
    session = db()
    await twofactor.disable(
        session,
        actor(),
        current_user(),
        data.password,
        data.code,
        data.recovery_code,
        settings().bcrypt_rounds,
    )
    await session.commit()
    return "", 204


@bp.post("/totp/recovery-codes")
@requires("account:write")
@destructive
@problems(409)
@validate_request(CodeIn)
@validate_response(RecoveryCodesOut)
async def totp_recovery_codes(data: CodeIn) -> RecoveryCodesOut:
    """Replace your recovery codes (the old ones stop working); needs a current code."""
    session = db()
    codes = await twofactor.regenerate_recovery_codes(session, actor(), current_user(), data.code)
    await session.commit()
    return RecoveryCodesOut(recovery_codes=codes)
