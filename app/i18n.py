"""Two languages: gettext catalogs (app/locale/*/LC_MESSAGES/messages.po, read with Babel),
the request's language (?lang=, then the `lang` cookie, then Accept-Language, else English)
and the middleware that sets it and answers with Content-Language."""

from __future__ import annotations

import contextvars
import io
from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGS = ("en", "zh")  # English is the source language (the msgids)
DEFAULT = "en"
COOKIE = "lang"
JS_PREFIX = "static/js/"  # messages extracted from these files are sent to the browser

current: contextvars.ContextVar[str] = contextvars.ContextVar("convscope_lang", default=DEFAULT)


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"


@cache
def _catalog(lang: str):  # type: ignore[no-untyped-def]
    with po_path(lang).open("rb") as f:
        return read_po(f, locale=lang)


@cache
def translations(lang: str) -> NullTranslations:
    """The gettext object of ``lang`` (English: identity), compiled from the .po file in memory."""
    if lang == DEFAULT or not po_path(lang).exists():
        return NullTranslations()
    buf = io.BytesIO()
    write_mo(buf, _catalog(lang))
    buf.seek(0)
    return Translations(fp=buf)


def gettext_for(lang: str) -> Callable[[str], str]:
    return translations(normalise(lang) or DEFAULT).gettext


def _(message: str) -> str:
    """gettext in the current request's language."""
    return translations(current.get()).gettext(message)


@cache
def js_messages(lang: str) -> dict[str, str]:
    """msgid -> translation for every message used by static/js (what i18n.js needs)."""
    if lang == DEFAULT or not po_path(lang).exists():
        return {}
    out = {}
    for m in _catalog(lang):
        if m.id and m.string and any(str(loc[0]).startswith(JS_PREFIX) for loc in m.locations):
            out[str(m.id)] = str(m.string)
    return out


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is used."""
    return message


# What a page shows for an error in a language other than English: one sentence per error code (the
# English message, with its details, stays the API's own in English).
ERROR_SENTENCES = {
    "no_digit": N_("Draw a digit first: the picture has no ink."),
    "empty_image": N_("The image is empty."),
    "unsupported_image": N_("The file is not an image in an accepted format (PNG, JPEG, GIF, BMP, WebP)."),
    "too_many_pixels": N_("The image has too many pixels; send a smaller one."),
    "too_large": N_("The upload is too large."),
    "overloaded": N_("The server is busy with other inferences; try again in a second."),
    "timeout": N_("The inference took too long and was stopped."),
    "model_unavailable": N_("This model is unavailable right now."),
    "not_found": N_("Not found."),
    "invalid_input": N_("The request was not understood; check the input."),
    "bad_json": N_("The request was not understood; check the input."),
    "bad_multipart": N_("The request was not understood; check the input."),
    "stale_model": N_("This model's file is out of date; rebuild it with convscope build --force."),
    "internal": N_("Internal error; the server logged the details."),
    "unexplainable": N_("This model's classifier head cannot be read, so it cannot be explained."),
    "non_finite": N_("The model gave values that are not finite numbers (its weights or activations overflow)."),
    "method_not_allowed": N_("This address does not take that method; the API is described at /docs."),
    "http_error": N_("The request could not be served."),
    "out_of_memory": N_("The server ran out of memory for this request; try again in a moment."),
    "run_failed": N_("The model failed while running: onnxruntime cannot run this file."),
    "broken_image": N_("The image could not be decoded; is the file complete?"),
    "unsupported_media_type": N_("Send the image as multipart/form-data (field 'image') or as JSON."),
    "not_built": N_("This model's file is not built yet; run convscope build."),
    "no_lrn": N_("This model has no LRN layer; try AlexNet or VGG-11 with LRN."),
    "no_data": N_("The MNIST test images are not available on this server."),
    "no_checkpoint": N_("No published checkpoint is known for this model."),
    "bad_request": N_("The request's headers are not valid."),
    "body_timeout": N_("The upload did not arrive in time; send it again."),
    "download_busy": N_("Another download is running; one at a time. Try again when it is done."),
}
# codes whose message is already in the request's language where it is raised
TRANSLATED_AT_RAISE = frozenset({"downloads_disabled"})
# codes the connection guard (app/web/connections.py) answers before a request is read: no language known
BEFORE_ANY_REQUEST = frozenset({"too_many_connections", "headers_too_large"})


# codes whose English message carries what a person needs to act (the field and its bounds, the valid
# layer names, the model's name and the closest ones, the failing node): a page in another language
# shows the code's sentence and, after it, that message
DETAILED = frozenset({"invalid_input", "bad_json", "bad_multipart", "not_found", "model_unavailable", "run_failed",
                      "unexplainable"})


def error_message(code: str, message: str) -> str:
    """The error's message in the request's language: English as raised, else the code's translated sentence
    (followed by the English message for the codes whose details matter)."""
    lang = current.get()
    if lang == DEFAULT or code not in ERROR_SENTENCES:
        return message
    sentence = translations(lang).gettext(ERROR_SENTENCES[code])
    return f"{sentence}（{message}）" if code in DETAILED and message else sentence


def normalise(value: str | None) -> str | None:
    """'zh', 'zh-CN', 'zh_Hans', 'EN-gb' -> 'zh' / 'en'; anything else -> None."""
    if not value:
        return None
    base = value.strip().lower().replace("_", "-").split("-")[0]
    return base if base in LANGS else None


def from_accept_language(header: str) -> str | None:
    """The best supported language of an Accept-Language header (q-values honoured)."""
    best: tuple[float, str] | None = None
    for i, part in enumerate(header.split(",")[:32]):
        tag, _sep, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = normalise(tag)
        if lang and q > 0 and (best is None or q > best[0]):
            best = (q - i * 1e-6, lang)
    return best[1] if best else None


def negotiate(query: str | None, cookie: str | None, accept: str | None) -> str:
    """?lang= beats the cookie, which beats Accept-Language; unknown values fall back to English.
    An explicit but unknown ?lang= is English (not the cookie): the answer says which it used."""
    if query is not None:
        return normalise(query) or DEFAULT
    return normalise(cookie) or from_accept_language(accept or "") or DEFAULT


def _query_lang(scope: Scope) -> str | None:
    from urllib.parse import parse_qsl

    qs = scope.get("query_string", b"").decode("latin-1")
    for k, v in parse_qsl(qs, keep_blank_values=True):
        if k == "lang":
            return v
    return None


class LanguageMiddleware:
    """Pure ASGI: sets `current` for the request, answers with Content-Language, and remembers an
    explicit page choice (?lang= on a non-API path) in the `lang` cookie for a year."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        cookie = None
        for part in headers.get("cookie", "").split(";"):
            k, _sep, v = part.strip().partition("=")
            if k == COOKIE:
                cookie = v
        query = _query_lang(scope)
        lang = negotiate(query, cookie, headers.get("accept-language"))
        scope.setdefault("state", {})["lang"] = lang
        remember = query is not None and normalise(query) is not None and not scope["path"].startswith("/api")

        async def send_with_language(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                extra = [(b"content-language", lang.encode()), (b"vary", b"Accept-Language, Cookie")]
                if remember:
                    extra.append((b"set-cookie", f"{COOKIE}={lang}; Path=/; Max-Age=31536000; SameSite=Lax".encode()))
                msg["headers"] = [*[(k, v) for k, v in msg.get("headers", []) if k.lower() != b"content-language"],
                                  *extra]
            await send(msg)

        token = current.set(lang)  # a WebSocket (the pad's live channel) too: its errors in the page's language
        try:
            await self.app(scope, receive, send_with_language if scope["type"] == "http" else send)
        finally:
            current.reset(token)
