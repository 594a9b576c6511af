"""Unknown URLs and failing pages: a page in the theme for a browser, the API's JSON error
for the API and for scripts (issue 18, item 5)."""

from __future__ import annotations

import re

import httpx
from fastapi import Request
from playwright.sync_api import Page, expect

from botmaker.api import create_app
from botmaker.services import Services
from tests.support.server import ServerThread
from tests.test_dashboard import Session
from tests.test_dashboard_rough_edges import wide

__all__ = ["wide"]  # the fixture

PAGE_ACCEPT = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def test_an_unknown_page_is_a_404_page_in_the_theme(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as anon:
        response = anon.get("/no/such/page", headers=PAGE_ACCEPT)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "Content-Security-Policy" in response.headers
        text = response.text
        assert text.lstrip().lower().startswith("<!doctype html")
        assert '"error"' not in text
        assert "Page not found" in text
        assert 'href="/"' in text
        assert "/static/css/app.css" in text

        # The API keeps its one error shape, whatever the client accepts.
        for headers in ({}, PAGE_ACCEPT):
            api = anon.get("/api/no-such-thing", headers=headers)
            assert api.status_code == 404
            assert api.headers["content-type"].startswith("application/json")
            assert api.json() == {"error": {"code": "not_found", "message": "Not Found"}}
        # A script (no text/html) gets the JSON error on a non-API path too.
        assert anon.get("/no/such/page").json()["error"]["code"] == "not_found"


def test_an_unknown_page_in_a_browser_keeps_the_navigation(wide: Session) -> None:
    page: Page = wide.page()
    wide.login(page, "/")
    response = page.goto("/nowhere")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.get_by_role("link", name="Back to the bots").click()
    expect(page).to_have_url(re.compile(r"/$"))


def test_a_failing_page_route_is_a_500_page(services: Services) -> None:
    app = create_app(services.settings, services)

    @app.get("/boom")
    def boom(request: Request) -> None:
        raise RuntimeError("a page route's bug")

    @app.get("/api/boom")
    def api_boom(request: Request) -> None:
        raise RuntimeError("an API route's bug")

    with ServerThread(app) as url:
        # One connection each: the server closes one after an unhandled error.
        page = httpx.get(f"{url}/boom", headers=PAGE_ACCEPT, timeout=30)
        assert page.status_code == 500
        assert page.headers["content-type"].startswith("text/html")
        assert "Something went wrong" in page.text
        assert "a page route" not in page.text
        api = httpx.get(f"{url}/api/boom", headers=PAGE_ACCEPT, timeout=30)
        assert api.status_code == 500
        assert api.json() == {"error": {"code": "internal", "message": "internal error"}}
