"""Request and response heads as they cross the proxy (RFC 9110 section 7.6, RFC 9112).

Inbound: the request head is validated (exactly one well-formed Host, a version we speak, a
framing we understand) and rewritten for the upstream: hop-by-hop fields removed (Connection,
every field it names, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade),
X-Forwarded-For/-Proto/-Host and X-Request-Id set, Via added, and the body framing restated.
X-Forwarded-* and X-Request-Id sent by a trusted peer (Caddy) are kept and extended; from
anyone else they are replaced, so a client cannot spoof its address to the application.

Outbound: the response head gets the same hop-by-hop treatment and the framing the client
needs (chunked when the upstream's length is unknown, ``Connection: close`` when we will
close).
"""

from __future__ import annotations

import re

CRLF = b"\r\n"

# Header names we act on, lower-case -> code.
_HOST, _CL, _TE, _CONN, _DROP, _UPGRADE, _XFF, _XFP, _XFH, _RID, _EXPECT = range(11)
_REQUEST_SPECIAL: dict[bytes, int] = {
    b"host": _HOST,
    b"content-length": _CL,
    b"transfer-encoding": _TE,
    b"connection": _CONN,
    b"keep-alive": _DROP,
    b"proxy-connection": _DROP,
    b"te": _DROP,
    b"trailer": _DROP,
    b"upgrade": _UPGRADE,
    b"x-forwarded-for": _XFF,
    b"x-forwarded-proto": _XFP,
    b"x-forwarded-host": _XFH,
    b"x-request-id": _RID,
    b"expect": _EXPECT,
}
_RESPONSE_SPECIAL: dict[bytes, int] = {
    b"content-length": _CL,
    b"transfer-encoding": _TE,
    b"connection": _CONN,
    b"keep-alive": _DROP,
    b"proxy-connection": _DROP,
    b"te": _DROP,
    b"trailer": _DROP,
    b"upgrade": _UPGRADE,
    b"content-type": _XFP,  # reused code: we only look for text/event-stream
}
_CONNECTION_TOKENS_KEPT = frozenset((b"close", b"keep-alive", b"upgrade", b""))
#: The code of a field we forward untouched.
_PLAIN = -1
#: Field names as received -> code, so the usual names cost one dict probe and no lower();
#: bounded, since the names come from clients and applications.
_CACHE_MAX = 2048
_REQUEST_CODES: dict[bytes, int] = {}
_RESPONSE_CODES: dict[bytes, int] = {}


def _code(cache: dict[bytes, int], special: dict[bytes, int], name: bytes) -> int:
    """The code of field ``name`` (cached by its spelling)."""
    code = special.get(name.lower(), _PLAIN)
    if len(cache) < _CACHE_MAX:
        cache[name] = code
    return code


def _drop_named(lines: list[bytes], start: int, named: set[bytes]) -> None:
    """Remove the fields named in Connection from ``lines[start:]`` (name, ": ", value, CRLF)."""
    kept: list[bytes] = []
    for i in range(start, len(lines), 4):
        if lines[i].lower() not in named:
            kept += lines[i : i + 4]
    lines[start:] = kept


_HOST_RE = re.compile(rb"([a-z0-9_\-.]{1,253}|\[[0-9a-f:.]{2,45}\])(?::[0-9]{1,5})?")
_RID_RE = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,128}")
_VIA = b"Via: 1.1 meshploy\r\n"

BODY_NONE, BODY_LENGTH, BODY_CHUNKED = 0, 1, 2
OUT_NONE, OUT_RAW, OUT_CHUNKED = 0, 1, 2


class Rejected(Exception):
    """The request cannot be forwarded; answer ``status`` with ``message`` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class PreparedRequest:
    """A validated request: the head to send upstream and what the exchange needs to know."""

    __slots__ = ("body", "expect_continue", "head", "host", "host_key", "request_id", "target")

    def __init__(
        self,
        head: bytes,
        host: bytes,
        host_key: bytes,
        target: bytes,
        body: int,
        expect_continue: bool,
        request_id: bytes,
    ) -> None:
        self.head = head
        self.host = host
        self.host_key = host_key
        self.target = target
        self.body = body
        self.expect_continue = expect_continue
        self.request_id = request_id


def _split_absolute(target: bytes) -> tuple[bytes, bytes]:
    """``http://host:port/path?q`` -> (authority, /path?q)."""
    rest = target.split(b"://", 1)[1]
    slash = rest.find(b"/")
    query = rest.find(b"?")
    cut = min(i for i in (slash, query, len(rest)) if i >= 0)
    authority, path = rest[:cut], rest[cut:]
    if b"@" in authority:
        raise Rejected(400, "The request target must not contain user information.")
    if not path.startswith(b"/"):
        path = b"/" + path
    return authority, path


def prepare_request(
    method: bytes,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    version: str,
    upgrade: bool,
    client_ip: bytes,
    trusted: bool,
    new_request_id: bytes,
) -> PreparedRequest:
    """Validate a request head and build the one to send upstream; raises :class:`Rejected`."""
    if version != "1.1" and version != "1.0":
        raise Rejected(505, "Only HTTP/1.0 and HTTP/1.1 are spoken here.")
    if method == b"CONNECT":
        raise Rejected(405, "CONNECT is not supported: this is a reverse proxy.")
    authority: bytes | None = None
    if target[:1] != b"/":
        low = target[:8].lower()
        if low.startswith((b"http://", b"https://")):
            authority, target = _split_absolute(target)
        elif not (target == b"*" and method == b"OPTIONS"):
            raise Rejected(400, "The request target is malformed.")

    lines: list[bytes] = [method, b" ", target, b" HTTP/1.1\r\n"]
    host: bytes | None = None
    hosts = 0
    te: bytes | None = None
    cl: bytes | None = None
    xff: bytes | None = None
    xfp: bytes | None = None
    xfh: bytes | None = None
    rid: bytes | None = None
    upgrade_value: bytes | None = None
    expect_continue = False
    named: set[bytes] | None = None
    special = _REQUEST_SPECIAL
    codes = _REQUEST_CODES
    append = lines.append
    # Forwarded fields go into ``lines`` as (name, ": ", value, CRLF): no concatenation.
    for name, value in headers:
        code = codes.get(name)
        if code is None:
            code = _code(codes, special, name)
        if code == _PLAIN:
            lines += (name, b": ", value, CRLF)
        elif code == _HOST:
            hosts += 1
            host = value
            if authority is None:
                lines += (name, b": ", value, CRLF)
        elif code == _CL:
            cl = value
        elif code == _TE:
            te = value if te is None else te + b", " + value
        elif code == _CONN:
            for token in value.lower().split(b","):
                token = token.strip()
                # Fields we manage ourselves (Host, framing, X-Forwarded-*) cannot be dropped.
                if token not in _CONNECTION_TOKENS_KEPT and token not in special:
                    named = named or set()
                    named.add(token)
        elif code == _UPGRADE:
            upgrade_value = value
        elif code == _XFF:
            if trusted:
                xff = value if xff is None else xff + b", " + value
        elif code == _XFP:
            if trusted:
                xfp = value
        elif code == _XFH:
            if trusted:
                xfh = value
        elif code == _RID:
            if trusted and _RID_RE.fullmatch(value):
                rid = value
        elif code == _EXPECT:
            if value.lower() == b"100-continue":
                expect_continue = True
            else:
                raise Rejected(417, "Only 'Expect: 100-continue' is understood.")
        # _DROP: hop-by-hop, not forwarded

    if authority is not None:
        host = authority
        hosts = 1
        lines += (b"Host", b": ", authority, CRLF)
    if hosts != 1 or host is None:
        raise Rejected(
            400, "The request needs exactly one Host header." if hosts else "Host header missing."
        )
    match = _HOST_RE.fullmatch(host.lower())
    if match is None:
        raise Rejected(400, "The Host header is malformed.")
    host_key = match.group(1).rstrip(b".")

    if named:  # fields named in Connection are hop-by-hop too (rare: filter again)
        _drop_named(lines, 4, named)

    body = BODY_NONE
    if te is not None:
        if version == "1.0":
            raise Rejected(400, "Transfer-Encoding is not allowed in HTTP/1.0.")
        if te.strip().lower() != b"chunked":
            raise Rejected(501, "Only the chunked transfer coding is supported.")
        body = BODY_CHUNKED
        append(b"Transfer-Encoding: chunked\r\n")
    elif cl is not None and cl != b"0":
        body = BODY_LENGTH
        append(b"Content-Length: " + cl + CRLF)
    elif cl is not None:
        append(b"Content-Length: 0\r\n")
    if body == BODY_NONE:
        expect_continue = False

    append(b"X-Forwarded-For: " + (xff + b", " + client_ip if xff else client_ip) + CRLF)
    append(b"X-Forwarded-Proto: " + (xfp or b"http") + CRLF)
    append(b"X-Forwarded-Host: " + (xfh or host) + CRLF)
    request_id = rid or new_request_id
    append(b"X-Request-Id: " + request_id + CRLF)
    append(_VIA)
    if upgrade and upgrade_value is not None:
        append(b"Connection: upgrade\r\nUpgrade: " + upgrade_value + CRLF)
    append(CRLF)
    return PreparedRequest(
        b"".join(lines), host, host_key, target, body, expect_continue, request_id
    )


class ResponseHead:
    """The response head for the client and how its body must be framed."""

    __slots__ = ("data", "event_stream", "keep_alive", "length", "out", "until_close")

    def __init__(
        self,
        data: bytes,
        out: int,
        keep_alive: bool,
        event_stream: bool,
        until_close: bool,
        length: int = -1,
    ) -> None:
        self.data = data
        #: How the body goes to the client: OUT_NONE, OUT_RAW or OUT_CHUNKED.
        self.out = out
        self.keep_alive = keep_alive
        #: text/event-stream: the longer stream idle timeout applies.
        self.event_stream = event_stream
        #: The upstream delimits the body by closing the connection.
        self.until_close = until_close
        #: The body's Content-Length when it is passed through as is, else -1.
        self.length = length


def build_response_head(
    status: int,
    reason: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    head_request: bool,
    client_11: bool,
    keep_alive: bool,
) -> ResponseHead:
    """Rewrite an upstream response head for the client; raises ValueError if unforwardable."""
    lines: list[bytes] = [b"HTTP/1.1 %d %b\r\n" % (status, reason)]
    append = lines.append
    special = _RESPONSE_SPECIAL
    cl: bytes | None = None
    te: bytes | None = None
    upgrade_value: bytes | None = None
    event_stream = False
    named: set[bytes] | None = None
    codes = _RESPONSE_CODES
    # Forwarded fields go into ``lines`` as (name, ": ", value, CRLF): no concatenation.
    for name, value in headers:
        code = codes.get(name)
        if code is None:
            code = _code(codes, special, name)
        if code == _PLAIN:
            lines += (name, b": ", value, CRLF)
        elif code == _CL:
            cl = value
        elif code == _TE:
            te = value if te is None else te + b", " + value
        elif code == _XFP:  # Content-Type
            event_stream = value[:17].lower() == b"text/event-stream"
            lines += (name, b": ", value, CRLF)
        elif code == _CONN:
            for token in value.lower().split(b","):
                token = token.strip()
                # Fields we manage ourselves (Host, framing, X-Forwarded-*) cannot be dropped.
                if token not in _CONNECTION_TOKENS_KEPT and token not in special:
                    named = named or set()
                    named.add(token)
        elif code == _UPGRADE:
            upgrade_value = value
    if named:
        _drop_named(lines, 1, named)

    if status == 101:
        if upgrade_value is None:
            raise ValueError("101 response without Upgrade")
        append(b"Connection: upgrade\r\nUpgrade: " + upgrade_value + b"\r\n\r\n")
        return ResponseHead(b"".join(lines), OUT_NONE, False, False, False)
    chunked = until_close = False
    length = -1
    if te is not None:
        if te.strip().lower() != b"chunked":
            raise ValueError("unsupported transfer coding")
        chunked = True
    if head_request or status in (204, 304) or status < 200:
        out = OUT_NONE
        if cl is not None:
            append(b"Content-Length: " + cl + CRLF)
    elif chunked or cl is None:  # chunked, or delimited by the upstream closing
        until_close = not chunked
        if client_11:
            out = OUT_CHUNKED
            append(b"Transfer-Encoding: chunked\r\n")
        else:
            out = OUT_RAW
            keep_alive = False
    else:
        out = OUT_RAW
        length = int(cl)
        append(b"Content-Length: " + cl + CRLF)
    if not keep_alive:
        append(b"Connection: close\r\n")
    elif not client_11:
        append(b"Connection: keep-alive\r\n")
    append(CRLF)
    return ResponseHead(b"".join(lines), out, keep_alive, event_stream, until_close, length)


def chunk(data: bytes) -> bytes:
    """One chunk of the chunked transfer coding."""
    return b"%x\r\n%b\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
