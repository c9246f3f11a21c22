"""Unknown pages: an HTML 404 page with the closest model names for a browser, JSON for the API; model
names are case-insensitive and redirect to the canonical one (issue 11 item 7)."""

from __future__ import annotations

import pytest

HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def test_unknown_model_page_is_an_html_404_with_the_closest_names(client) -> None:
    r = client.get("/models/vgg17", headers=HTML)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "vgg17" in r.text and 'id="closest"' in r.text
    closest = r.text.split('id="closest"')[1].split("</ul>")[0]
    assert "/models/vgg16-3" in closest or "/models/vgg11" in closest or "/models/vgg19" in closest
    # a name is escaped as text, never markup
    r = client.get("/models/%3Cscript%3Ealert(1)%3C%2Fscript%3E", headers=HTML)
    assert r.status_code == 404 and "<script>alert" not in r.text


def test_unknown_page_is_html_for_a_browser_and_json_for_the_api(client) -> None:
    r = client.get("/no/such/page", headers=HTML)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "/no/such/page" in r.text
    r = client.get("/no/such/page")  # no HTML asked for: the JSON error
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    for path in ("/api/models/vgg17", "/api/nothing"):
        r = client.get(path, headers=HTML)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", path


def test_model_names_are_case_insensitive(client) -> None:
    r = client.get("/models/VGG16-3?lang=zh", headers=HTML, follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == "/models/vgg16-3?lang=zh"
    r = client.get("/models/vgg16", headers=HTML, follow_redirects=False)  # the alias too
    assert r.status_code == 301 and r.headers["location"] == "/models/vgg16-3"
    assert client.get("/models/LeNet5", headers=HTML).status_code == 200
    assert client.get("/api/models/ResNet50").json()["name"] == "resnet50"
    assert client.get("/models/lenet5", headers=HTML, follow_redirects=False).status_code == 200


def test_draw_with_an_unknown_model_is_the_html_404_page(client) -> None:
    r = client.get("/draw?model=nope", headers=HTML)  # was the JSON error
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), r.text[:200]
    assert "There is no model named “nope”" in r.text and '<a href="/draw">' in r.text
    assert client.get("/draw?model=nope").json()["error"]["code"] == "not_found"  # no HTML asked for: JSON


def test_draw_with_a_photo_model_is_a_page_saying_why(client) -> None:
    r = client.get("/draw?model=resnet18", headers=HTML)  # was the JSON error
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html"), r.text[:200]
    assert "resnet18 does not read digits; the drawing pad drives these models:" in r.text
    links = r.text.split('id="digit-models"')[1].split("</p>")[0]
    assert '<a href="/draw?model=lenet5">lenet5</a>' in links and "resnet18" not in links
    zh = client.get("/draw?model=resnet18&lang=zh", headers=HTML)
    assert zh.status_code == 422 and "resnet18 不读数字" in zh.text


def test_links_to_a_model_are_url_encoded(models_dir) -> None:
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.web.app import create_app
    from tests.helpers.hostile_models import conv_classifier

    for stem in ("a#b", "c?d", "e f%2F"):  # a file name may hold what a URL path may not
        conv_classifier(models_dir / f"{stem}.onnx")
    with TestClient(create_app(Settings.from_env(models_dir=models_dir)), raise_server_exceptions=False) as c:
        page = c.get("/", headers=HTML).text
        for stem, url in (("a#b", "/models/a%23b"), ("c?d", "/models/c%3Fd"), ("e f%2F", "/models/e%20f%252F")):
            assert f'href="{url}"' in page, stem  # was href="/models/a#b": the link opened /models/a
            if "%25" not in url:  # the TestClient decodes %25 twice (a real server does not): not followed here
                r = c.get(url, headers=HTML)
                assert r.status_code == 200 and stem in r.text, (stem, r.status_code)
        missing = c.get("/models/a%23", headers=HTML)  # the 404 page: its closest names and the list of all
        assert missing.status_code == 404
        assert '<a href="/models/a%23b">a#b</a>' in missing.text.split('id="closest"')[1].split("</ul>")[0]
        assert '<a href="/models/c%3Fd">c?d</a>' in missing.text.split("Every model")[1]


@pytest.mark.parametrize("path", ["/", "/draw", "/models/lenet5", "/compare", "/models/nope"])
def test_pages_never_write_the_host_header_into_their_links(client, path: str) -> None:
    r = client.get(path, headers={"host": "evil.example", "accept": "text/html"})
    assert r.status_code in (200, 404) and "evil.example" not in r.text, path
    assert 'src="/static/js/' in r.text
