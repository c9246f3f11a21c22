"""A residual block's row opens into its parts, each with kernel/stride/padding, output, params and MACs, and
the parts' parameters add up to the block's (issue 11 item 4)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

ROW = """r => [...r.cells].map(c => c.textContent.trim())"""


def test_resnet50_block_expands_into_parts_that_add_up(server: str, page) -> None:
    page.goto(server + "/models/resnet50")
    block = page.locator("#layer-table tr[data-layer='layer1.0']")
    parts = page.locator("#layer-table tr.part[data-parent='layer1.0']")
    assert parts.count() == 12 and not parts.first.is_visible()  # folded until asked
    button = block.locator("button.expand")
    button.focus()
    page.keyboard.press("Enter")  # a button: keyboard works
    assert button.get_attribute("aria-expanded") == "true"
    assert parts.first.is_visible()
    cells = [p.evaluate(ROW) for p in parts.all()]
    names = [c[0].split()[-1] for c in cells]
    assert names[:3] == ["layer1.0.conv1", "layer1.0.bn1", "layer1.0.relu1"]
    assert "layer1.0.downsample.0" in names and names[-2:] == ["layer1.0.add", "layer1.0.relu"]
    by = dict(zip(names, cells, strict=True))
    assert by["layer1.0.conv1"][2] == "1×1 / 1 / 0" and by["layer1.0.conv2"][2] == "3×3 / 1 / 1"
    assert by["layer1.0.conv3"][3] == "256×56×56" and by["layer1.0.downsample.0"][3] == "256×56×56"
    num = lambda s: int(s.replace(",", ""))  # noqa: E731
    block_params = num(block.evaluate(ROW)[5])
    assert block_params == 75_008 and sum(num(c[5]) for c in cells) == block_params
    assert all(c[7] for c in cells)  # MACs shown for every part
    page.keyboard.press("Enter")
    assert not parts.first.is_visible()
    assert page.console_errors == []
