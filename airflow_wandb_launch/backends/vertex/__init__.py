"""``vertex``: Vertex AI CustomJobs."""

from __future__ import annotations

RESOURCE = "vertex"
