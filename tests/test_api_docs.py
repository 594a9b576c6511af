"""The API documentation is for the logged-in admin only, and comes from BotMaker itself
(issue 12, finding 5): Swagger UI's assets from the pinned ``fastapi-offline`` package,
under the same Content-Security-Policy as every page, nothing from another site.
"""

from __future__ import annotations

import hashlib
import re

import httpx
from playwright.sync_api import Browser, Request, expect

from botmaker.web.apidocs import SWAGGER_UI_DIR
from botmaker.web.routes import CONTENT_SECURITY_POLICY
from tests.conftest import ADMIN_PASSWORD
from tests.test_auth import assert_error

expect.set_options(timeout=15_000)

#: sha256 of swagger-ui-dist 5.32.6's files as npm has them (checked when pinned):
#: the package ships them unmodified.
UPSTREAM = {
    "swagger-ui-bundle.js": "4b5a9b35a1adf37f00d39c0bae23cdb37007e2946240ef035137cc85b4d55349",
    "swagger-ui.css": "ca238f7d7c2cf4480c1e77a9c3b9da915ab216e96ffd354e69076560c650c6de",
}


def test_anonymous_callers_get_neither_the_page_nor_the_document(anon: httpx.Client) -> None:
    page = anon.get("/api/docs")
    assert page.status_code == 303, page.text[:200]
    assert page.headers["location"] == "/login?next=%2Fapi%2Fdocs"
    assert_error(anon.get("/api/openapi.json"), 401, "unauthorized")
    bogus = {"Authorization": "Bearer bm1.deadbeef.not-a-token"}
    assert_error(anon.get("/api/openapi.json", headers=bogus), 401, "unauthorized")
    # Redoc and FastAPI's own docs routes are not served either.
    for path in ("/api/redoc", "/docs", "/redoc", "/openapi.json", "/api/docs/oauth2-redirect"):
        assert anon.get(path).status_code in (401, 404), path


def test_a_token_gets_the_document(client: httpx.Client) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["info"]["title"] == "BotMaker"
    assert "/api/bots" in document["paths"]


def test_swagger_ui_is_the_pinned_package_and_only_its_assets(anon: httpx.Client) -> None:
    assert SWAGGER_UI_DIR.parent.name == "fastapi_offline"  # fastapi-offline, from the lock
    for name, digest in UPSTREAM.items():
        response = anon.get(f"/static/swagger-ui/{name}")
        assert response.status_code == 200, name
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.content == (SWAGGER_UI_DIR / name).read_bytes()
        assert hashlib.sha256(response.content).hexdigest() == digest, name
    # Nothing else of the package (its Redoc bundle), and no way out of the folder.
    for name in ("redoc.standalone.js", "favicon.png", "..%2F__init__.py", "index.html"):
        assert anon.get(f"/static/swagger-ui/{name}").status_code == 404, name


def test_a_logged_in_admin_sees_swagger_ui_with_nothing_from_elsewhere(
    browser: Browser, server: str
) -> None:
    context = browser.new_context(base_url=server)
    problems: list[str] = []
    requested: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda m: (
                problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
            ),
        )

        def record(request: Request) -> None:
            requested.append(request.url)

        page.on("request", record)
        page.goto("/api/docs")
        expect(page).to_have_url(re.compile(r"/login\?next=%2Fapi%2Fdocs$"))
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(re.compile(r"/api/docs$"))
        response = page.request.get("/api/docs")
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("BotMaker")
        operation = page.locator("#operations-bots-list_bots_api_bots_get")
        expect(operation).to_be_visible()
        # Try it out with the session cookie: the API answers the page's own request.
        operation.locator(".opblock-summary").click()
        operation.get_by_role("button", name="Try it out").click()
        operation.get_by_role("button", name="Execute").click()
        status = operation.locator(".live-responses-table tbody .response-col_status").first
        expect(status).to_have_text("200")
        # A write from the page carries the session's CSRF token: logging out works (204,
        # not 403), and then the document is refused.
        logout = page.locator("#operations-auth-logout_api_logout_post")
        logout.locator(".opblock-summary").click()
        logout.get_by_role("button", name="Try it out").click()
        logout.get_by_role("button", name="Execute").click()
        status = logout.locator(".live-responses-table tbody .response-col_status").first
        expect(status).to_have_text("204")
        assert page.request.get("/api/openapi.json").status == 401
    finally:
        context.close()
    assert problems == [], problems
    assert requested, "the page made no request at all"
    elsewhere = [url for url in requested if not url.startswith(f"{server}/")]
    assert elsewhere == [], elsewhere
