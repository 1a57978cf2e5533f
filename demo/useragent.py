"""Device names for the devices page: "Chrome 156 on Linux" instead of a raw user-agent string.

The parsing is uap-python's (``ua-parser`` on PyPI, the maintained port of the ua-parser
project's shared regexes), never hand-written patterns. A string it cannot read (empty,
truncated, a script's) is "Unknown browser"; what the parser does name is kept short.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from ua_parser import parse

UNKNOWN = "Unknown browser"
#: family names of headless and embedded builds, said as the browser people know
_FAMILIES = {"HeadlessChrome": "Chrome", "Chrome Mobile": "Chrome", "Chromium": "Chromium"}


@lru_cache(maxsize=256)
def describe_user_agent(user_agent: str) -> str:
    """ "Chrome 156 on Linux", "Mobile Safari 17 on iOS", "Firefox 128", or "Unknown browser"."""
    if not user_agent or not user_agent.strip():
        return UNKNOWN
    found = parse(user_agent[:1000])  # a user agent is client data: bounded before parsing
    if found.user_agent is None or found.user_agent.family in ("", "Other"):
        return UNKNOWN
    family = _FAMILIES.get(found.user_agent.family, found.user_agent.family)
    browser = f"{family} {found.user_agent.major}" if found.user_agent.major else family
    system = found.os.family if found.os is not None and found.os.family != "Other" else ""
    return f"{browser} on {system}" if system else browser


def describe_address(ip: str) -> str:
    """Where a session signed in from: "from 203.0.113.7", "from this computer" (loopback)."""
    if not ip:
        return "from an unknown address"
    try:
        if ipaddress.ip_address(ip).is_loopback:
            return "from this computer"
    except ValueError:
        pass
    return f"from {ip}"
