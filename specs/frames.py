"""Frames and statuses, from internal/wire/doc.go ("Frames", "Statuses")."""

MAX_VARINT_LEN = 5

STATUSES = ["OK", "BadRequest", "Unauthorized", "Forbidden", "NotFound", "TooLarge",
            "RateLimited", "Revoked", "Expired", "Locked", "Internal", "Conflict", "Unavailable"]


def status_name(n):
    """The name of status n; a number this version does not define is
    read as Internal."""
    return STATUSES[n] if n < len(STATUSES) else "Internal"


def read_frame(data, cap, pos=0):
    """Read one frame from data at pos with a length cap. Returns
    (outcome, body, next_pos): outcome is "ok", "BadRequest" (a malformed
    prefix), "TooLarge" (a length over the cap, found before the body is
    read), "truncated" (the input ends inside the frame) or "end" (no byte
    at all)."""
    if pos >= len(data):
        return "end", None, pos
    n, shift = 0, 0
    for i in range(MAX_VARINT_LEN):
        if pos >= len(data):
            return "truncated", None, pos
        c = data[pos]
        pos += 1
        if c < 0x80:
            if i > 0 and c == 0:
                return "BadRequest", None, pos
            n |= c << shift
            break
        n |= (c & 0x7F) << shift
        shift += 7
    else:
        return "BadRequest", None, pos
    if n > cap:
        return "TooLarge", None, pos
    if pos + n > len(data):
        return "truncated", None, pos
    return "ok", data[pos:pos + n], pos + n


def frame(body):
    """uvarint(len(body)) || body."""
    n, pre = len(body), bytearray()
    while True:
        if n < 0x80:
            pre.append(n)
            break
        pre.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(pre) + body
