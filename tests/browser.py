"""Headless Chromium for the page tests: Debian's chromium driven by Playwright.

Shared by the blueprint page, print and project page tests, so the launch flags and the
static-files set-up a live server needs are written once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# machine's closed network refuses.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
READY = "() => document.body.dataset.ready === '1'"

needs_browser = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                   reason="Debian chromium is not installed")


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api

    # scripts/bootstrap.sh installs Debian's chromium: its absence is a broken set-up.
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: run scripts/bootstrap.sh"
    # Playwright's sync API keeps an event loop in this thread; Django's ORM calls made by the
    # test itself (fixtures) are synchronous and safe here.
    old = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
    if old is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = old


@pytest.fixture
def live_static(settings):
    """The live server serves static files from the finders (source names), not the
    collected, hashed ones."""
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
