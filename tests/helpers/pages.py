"""Every page of the app and how to "run" it in a browser (a sample photo, a drawn digit), for the tests
that visit them all: no request leaves the server, no horizontal overflow, no script from data."""

from __future__ import annotations

from collections.abc import Callable

from tests.helpers.pad import draw

# path -> what a user does there once it has loaded (None: nothing to run)
Action = Callable[..., None] | None


def run_draw(page) -> None:
    draw(page, 3)
    page.wait_for_function("() => document.querySelectorAll('#layers canvas.map').length > 0", timeout=30000)


def run_sample(page) -> None:
    page.click(".sample >> nth=0")
    page.wait_for_function("() => document.querySelectorAll('#layers section.layer').length > 0", timeout=90000)
    page.evaluate("() => document.getElementById('layers').scrollIntoView()")  # sections are painted lazily
    page.wait_for_function("() => document.querySelectorAll('#layers canvas.map').length > 0", timeout=30000)
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_timeout(400)
    page.evaluate("() => window.scrollTo(0, 0)")


def run_compare(page) -> None:
    page.select_option("#a", value="resnet18")
    page.select_option("#b", value="resnet50")
    page.wait_for_function("() => document.querySelector('#diff') !== null", timeout=30000)


PAGES: dict[str, Action] = {
    "/": None,
    "/draw": run_draw,
    "/compare": run_compare,
    "/models/lenet5": run_sample,
    "/models/alexnet": run_sample,
    "/models/vgg16-3": run_sample,
    "/models/resnet50": run_sample,
    "/models/tiny": run_sample,  # a foreign file (the session server's)
    "/docs": None,
    "/models/vgg17": None,  # the HTML 404 page
}
