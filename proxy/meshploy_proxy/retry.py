"""What happens to a request whose upstream connection failed before a response head.

The policy (docs/proxy.md, "Reusing pooled connections", has the reasoning and the comparison
with nginx and Envoy):

* **Connect failure**: nothing was sent, so any request goes to the route's next upstream
  (up to ``max_attempts`` in all); the one that refused is out of rotation for a while.
* **A pooled connection** that closes, resets or answers with bytes that are not a response
  went *stale* (the upstream closed it as we reused it, or an earlier broken response left
  bytes on it). That says nothing about the upstream, so its health is untouched. A request
  that can be sent again is retried once on a fresh connection to the same upstream;
  anything else is answered 502 with a page saying it was not retried.
* **A fresh connection** that fails counts against the upstream, and a request that can be
  sent again goes to the next one.

"Can be sent again" means idempotent (RFC 9110 section 9.2.2: a repeat has the same effect)
with its whole body still at hand: requests without a body, or whose body (so far) fits in
:data:`REPLAY_LIMIT`. POST and PATCH are never sent twice: the application may have processed
the first copy, as nginx (``proxy_next_upstream`` without ``non_idempotent``) and Envoy
(no retry without a route's retry policy) also assume. What keeps them safe instead is the
pool: a connection with a FIN or bytes waiting is never written to (see
:meth:`~meshploy_proxy.upstream.Upstream.acquire`), so a POST is lost only when the upstream
closes in the instant after the request left.
"""

from __future__ import annotations

import enum

#: Methods a request may be repeated with (RFC 9110 section 9.2.2).
IDEMPOTENT = frozenset((b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"))
#: Body bytes of an idempotent request kept until the response head, so that it can be sent
#: again; a request with a larger body is not retried once it has started to go out.
REPLAY_LIMIT = 64 * 1024


class Next(enum.Enum):
    """What the exchange does after a failure before the response head."""

    #: Send it on a new connection to the same upstream (a stale pooled connection).
    FRESH_CONNECTION = "fresh connection"
    #: Send it to the route's next upstream.
    NEXT_UPSTREAM = "next upstream"
    #: Answer 502 (504 after a timeout): every attempt allowed has failed.
    ERROR_PAGE = "error page"
    #: Answer 502 saying why the request was not sent again (see :func:`not_retried_message`).
    NOT_RETRIED = "not retried"


def after_failure(
    *, connect_failure: bool, pooled: bool, replayable: bool, attempts: int, max_attempts: int
) -> Next:
    """The next step for a request whose connection failed before a response head.

    ``pooled``: the connection came from the idle pool and had not yet delivered a head for
    this request. ``attempts``: upstream attempts made so far, this one included.
    """
    if connect_failure:
        return Next.NEXT_UPSTREAM if attempts < max_attempts else Next.ERROR_PAGE
    if pooled:
        return Next.FRESH_CONNECTION if replayable else Next.NOT_RETRIED
    return Next.NEXT_UPSTREAM if replayable and attempts < max_attempts else Next.ERROR_PAGE


def replayable(method: bytes, *, has_body: bool, body_kept: bool) -> bool:
    """Whether a request may be sent again: idempotent, with all of its body (if any) kept."""
    return method in IDEMPOTENT and (not has_body or body_kept)


def not_retried_message(method: bytes) -> str:
    """The text of the 502 page for a request that failed on a stale connection for good."""
    name = method.decode("latin-1")
    if method in IDEMPOTENT:
        why = "its body was too large to keep for a second attempt"
    else:
        why = (
            f"a {name} request is not idempotent: the application may have processed it "
            "already, and sending it again could apply it twice"
        )
    return (
        "The connection to the application failed before it answered (it was closed, or what "
        f"came back was not an HTTP response). This {name} request was not retried: {why}. "
        "Check whether it took effect before sending it again."
    )


class KeptBody:
    """The body of an idempotent request so far, kept so that it can be sent again."""

    __slots__ = ("chunks", "size")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> bool:
        """Keep ``data``; False (and nothing kept) once the body outgrows :data:`REPLAY_LIMIT`."""
        self.size += len(data)
        if self.size > REPLAY_LIMIT:
            self.chunks = []
            return False
        self.chunks.append(data)
        return True
