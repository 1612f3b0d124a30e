"""A refusal or failure on a studio page, as a page: what went wrong and where to go (never a stack trace).
The REST routes keep answering JSON; only ``/ui`` pages come here."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from kiln.errors import KilnError
from kiln.studio.rendering import NO_STORE, page_html

HEADINGS = {400: "Bad request", 401: "Signed out", 403: "Not allowed", 404: "Not found", 409: "Conflict",
            422: "Bad input", 429: "Busy", 501: "Not installed", 503: "Unavailable"}  # fmt: skip


PAGE_PROBLEMS = {404: "There is no such page in kiln studio; the navigation above lists what there is.",
                 405: "That address does not take this kind of request."}  # fmt: skip


def is_page(request: Request) -> bool:
    return request.url.path.startswith("/ui/") and not request.url.path.startswith("/ui/assets/")


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    heading = HEADINGS.get(status, "Something went wrong")
    html = page_html(request, "error.html", heading=heading, message=message, details=None, back=None, back_label=None)
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


def kiln_error_page(request: Request, error: KilnError) -> HTMLResponse:
    answer = error_page(request, error.http_status, error.message)
    answer.headers.update(error.http_headers())
    return answer
