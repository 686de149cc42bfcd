"""Debian tools some tests drive (promtool, prometheus, chromium, docker-compose).

`make system-deps` (a prerequisite of `make test`) installs them with apt-get. Where it cannot
(no root, no apt-get, no network), the tests that need them skip, and the reason says which
tool is missing and why it was not installed; those an issue asks for (the pages' browser tests)
fail instead, saying the same.
"""

from __future__ import annotations

import shutil

import pytest


def _missing(tools: tuple[str, ...], package: str) -> str:
    """Why these tools cannot be used, or "" when every one is on PATH."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not missing:
        return ""
    return (f"{', '.join(missing)} not found: Debian's {package} package is not installed, and `make "
            f"system-deps` could not install it here (it needs root, apt-get and the package registry; its "
            f"output says which was missing)")


def needs(*tools: str, package: str) -> pytest.MarkDecorator:
    """Skip unless every tool is on PATH; the reason names the missing tools and their package."""
    why = _missing(tools, package)
    return pytest.mark.skipif(bool(why), reason=why)


def require(*tools: str, package: str) -> None:
    """Fail (never skip) unless every tool is on PATH: for tests an issue asks for."""
    why = _missing(tools, package)
    if why:
        pytest.fail(why)
