"""The reply envelope and its decoding by a client, from
internal/exchange/doc.go ("Reply")."""

import cbor
import frames

MAX_DETAIL = 512

REPLY = cbor.Msg("reply", [
    (1, "status", cbor.UINT16, True),
    (2, "message", cbor.TEXT, False),
    (3, "body", cbor.RAW, False),
    (4, "detail", cbor.RAW, False),
])


class Refusal(Exception):
    """A client's error: the status (a name), the message, the detail kept."""

    def __init__(self, status, message="", detail=None):
        super().__init__("%s: %s" % (status, message))
        self.status, self.message, self.detail = status, message, detail


def decode_reply(body, body_type):
    """Decode a reply frame's body. body_type is None when the reply to the
    request has no body, else a function that decodes and checks the body
    bytes, raising cbor.Malformed or Refusal. Returns the decoded body (or
    None); raises Refusal."""
    try:
        env = cbor.decode(body, REPLY)
    except cbor.Malformed as e:
        raise Refusal("BadRequest", "malformed reply: %s" % e)
    status = env["status"]
    if status != 0:
        if "body" in env:
            raise Refusal("BadRequest", "body in a refusal")
        name = frames.status_name(status)
        detail = env.get("detail")
        if status >= len(frames.STATUSES):
            detail = None
        if detail is not None and len(detail) > MAX_DETAIL:
            detail = None
        raise Refusal(name, env.get("message", ""), detail)
    if "detail" in env:
        raise Refusal("BadRequest", "detail in an OK reply")
    if body_type is None:
        if "body" in env:
            raise Refusal("BadRequest", "unexpected body")
        return None
    if "body" not in env:
        raise Refusal("BadRequest", "no body")
    try:
        return body_type(env["body"])
    except cbor.Malformed as e:
        raise Refusal("BadRequest", "malformed body: %s" % e)


def outcome(fn):
    """Run fn; return ("OK", value) or (status, Refusal)."""
    try:
        return "OK", fn()
    except Refusal as r:
        return r.status, r
