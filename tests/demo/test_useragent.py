"""The devices page's names for browsers and addresses (``demo/useragent.py``)."""

from __future__ import annotations

import pytest

from demo.useragent import UNKNOWN, describe_address, describe_user_agent

CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
HEADLESS = CHROME_LINUX.replace("Chrome/", "HeadlessChrome/")
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.mark.parametrize(
    ("user_agent", "name"),
    [
        (CHROME_LINUX, "Chrome 156 on Linux"),
        (HEADLESS, "Chrome 156 on Linux"),
        (IPHONE, "Mobile Safari 17 on iOS"),
        (FIREFOX_WINDOWS, "Firefox 128 on Windows"),
    ],
)
def test_a_browser_is_named_with_its_version_and_system(user_agent: str, name: str) -> None:
    assert describe_user_agent(user_agent) == name


@pytest.mark.parametrize(
    "garbage", ["", "   ", "garbage", "python-httpx/0.27", "\x00\x01", "Mozilla/5.0 " * 500]
)
def test_garbage_is_an_unknown_browser(garbage: str) -> None:
    assert describe_user_agent(garbage) == UNKNOWN


@pytest.mark.parametrize(
    ("ip", "said"),
    [
        ("127.0.0.1", "from this computer"),
        ("::1", "from this computer"),
        ("203.0.113.7", "from 203.0.113.7"),
        ("", "from an unknown address"),
        ("not-an-ip", "from not-an-ip"),
    ],
)
def test_an_address_is_said_plainly(ip: str, said: str) -> None:
    assert describe_address(ip) == said
