"""Unknown pages: an HTML 404 page with the closest model names for a browser, JSON for the API; model
names are case-insensitive and redirect to the canonical one (issue 11 item 7)."""

from __future__ import annotations

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
