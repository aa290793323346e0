"""With each real backend: a request that waits for its starting backend is answered about the
text the client had when it sent it, not about edits the client sent later."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from real.conftest import KINDS, backend_available, start_real_typemux
from real.monorepo import Monorepo

pytestmark = pytest.mark.real

SOURCE = "import os\nseparator_value = os.sep\n"
TOP_LINE = {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
            "text": "import sys\n"}


@pytest.mark.parametrize("kind", KINDS)
async def test_a_hover_sent_before_an_edit_is_answered_about_the_text_before_it(
    real_monorepo: Monorepo, kind: str, tmp_path: Path
) -> None:
    if not backend_available(kind):
        pytest.skip(f"{kind} is not installed")
    scratch = real_monorepo.a.root / f"ordering_{kind}.py"
    scratch.write_text(SOURCE)
    client = await start_real_typemux(real_monorepo.root, kind)
    try:
        await client.initialize(real_monorepo.root)
        doc = await client.did_open(scratch, SOURCE)
        # The backend is still starting: the hover waits, the edit must wait behind it. Then
        # (1,8) is in `separator_value`; after the edit it is the `os` of `import os`.
        at = {"textDocument": {"uri": doc}, "position": {"line": 1, "character": 8}}
        hover_id = client.send_request("textDocument/hover", at)
        client.did_change(doc, 2, [TOP_LINE])
        first = await client.response(hover_id, timeout=90)
        # A backend may answer about the variable, or drop the answer because the document
        # changed meanwhile (null, -32800, -32801); it must never answer about `os`.
        if "error" in first:
            assert first["error"]["code"] in (-32800, -32801), first
        else:
            assert "os" not in _words(first["result"]), first
        after = await client.request("textDocument/hover", at, timeout=90)
        assert "os" in _words(after["result"]), after  # the check above can see a wrong symbol
    finally:
        await client.aclose()


def _words(result: object) -> set[str]:
    return set(re.findall(r"[A-Za-z_]+", json.dumps(result)))
