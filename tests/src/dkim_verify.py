#!/usr/bin/python3
"""Verifies the DKIM signature of a message against one known TXT record, offline.

Usage: dkim_verify.py DOMAIN SELECTOR TXT_VALUE < message

The message's DKIM-Signature must name DOMAIN (d=) and SELECTOR (s=); the only DNS answer
available is TXT_VALUE for SELECTOR._domainkey.DOMAIN, so nothing is looked up on any network.
Prints one JSON object {"verified", "d", "s", "asked", "error"} and exits 0 only if verified.
"""

import json
import sys

import dkim
from dkim.util import parse_tag_value


def signature_tags(message):
    """The tags of the first DKIM-Signature header field, or None."""
    head = message.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n")
    fields = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    for field in fields:
        name, _, value = field.partition(b":")
        if name.strip().lower() == b"dkim-signature":
            return parse_tag_value(value)
    return None


def main():
    domain, selector, txt = sys.argv[1], sys.argv[2], sys.argv[3]
    message = sys.stdin.buffer.read()
    expected = f"{selector}._domainkey.{domain}".lower()
    asked = []

    def dnsfunc(name, timeout=5):
        text = name.decode("ascii") if isinstance(name, bytes) else str(name)
        asked.append(text)
        if text.rstrip(".").lower() == expected:
            return txt.encode("ascii")
        return None

    result = {"verified": False, "d": None, "s": None, "asked": asked, "error": None}
    tags = signature_tags(message)
    if tags is None:
        result["error"] = "no DKIM-Signature header"
    else:
        result["d"] = tags.get(b"d", b"").decode("ascii", "replace")
        result["s"] = tags.get(b"s", b"").decode("ascii", "replace")
        try:
            result["verified"] = bool(dkim.verify(message, dnsfunc=dnsfunc))
        except Exception as e:  # dkim raises its own errors for malformed input
            result["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(result))
    ok = result["verified"] and result["d"] == domain and result["s"] == selector
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
