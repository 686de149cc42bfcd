"""Debian tools some tests drive (promtool, prometheus, chromium, docker-compose).

`make system-deps` (a prerequisite of `make test`) installs them with apt-get. Where it cannot
(no root, no apt-get, no network), the tests that need them skip, and the reason says which
tool is missing and why it was not installed.
"""

from __future__ import annotations

import shutil

import pytest


def needs(*tools: str, package: str) -> pytest.MarkDecorator:
    """Skip unless every tool is on PATH; the reason names the missing tools and their package."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    return pytest.mark.skipif(
        bool(missing),
        reason=f"{', '.join(missing)} not found: Debian's {package} package is not installed, and `make "
               f"system-deps` could not install it here (it needs root, apt-get and the package registry; "
               f"its output says which was missing)",
    )
