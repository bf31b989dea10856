"""Capability tokens for the checkers of the formats that carry one
(grant's mailbox items, revocation records): an adapter over the token
format's own independent verifier, specs/tokens/verify.py, written from
capability/doc.go by the token format's owner. This module only asks it
questions; it decides nothing about tokens itself.

check(raw, now, audience=None) runs capability.CheckToken's rules:
decoding, every signature, the link rules, the ceilings and the time
window at now; and, when audience is given, that the leaf's audience is
that peer. It returns None, or the name of the sentinel that refuses the
token ("ErrMalformed", "ErrBadSignature", ...). It does so by asking
verify.py to verify the token for the one request every valid token
allows: from its own audience, to its own root issuer, for a path its
pattern matches and an action it grants, with nothing revoked or spent.
"""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_here, "tokens"))

import verify as _tok  # noqa: E402  specs/tokens/verify.py


def decode(raw):
    """The decoded token (verify.py's Token), or raise Refused."""
    return _tok.decode(raw)


Refused = _tok.Refused


def _matching_path(tok):
    return "/".join("x" if s in ("*", "**") else s for s in tok.segments)


def _one_action(tok):
    for name, bit in sorted(_tok.ACTIONS.items(), key=lambda kv: kv[1]):
        if tok.actions & bit:
            return name
    raise AssertionError("a decoded token grants no action")


def check(raw, now, audience=None):
    try:
        leaf = _tok.decode(raw)
        chain = _tok.chain_of(leaf)
        remote = leaf.audience if audience is None else audience
        _tok.verify(leaf, remote, chain[0].issuer, _matching_path(leaf), _one_action(leaf), now, set(), {})
    except _tok.Refused as e:
        return e.name
    return None


def issuers(raw):
    """The issuers (peer ID bytes) of the token and of its ancestors."""
    t = _tok.decode(raw)
    out = []
    while t is not None:
        out.append(t.issuer)
        t = t.parent
    return out


def expiry(raw):
    return _tok.decode(raw).expiry


def not_before(raw):
    return _tok.decode(raw).not_before
