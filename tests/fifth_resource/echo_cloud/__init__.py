"""``echo-cloud``: a test-only cloud whose jobs live in this process (``service``)."""

from __future__ import annotations

RESOURCE = "echo-cloud"
