"""A CustomJob's page in the Google Cloud console."""

from __future__ import annotations

import re

#: the CustomJob's console page, as aiplatform 2.7's ``CustomJob._dashboard_uri()`` composes it.
CONSOLE_URL = "https://console.cloud.google.com/agent-platform/locations/{region}/training/{job}?project={project}"
JOB_NAME = re.compile(r"^projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/customJobs/(?P<job>[^/]+)$")


def console_url(job_name: str, project: str | None = None) -> str | None:
    """The CustomJob's page in the Google Cloud console, from its resource name."""
    match = JOB_NAME.match(job_name)
    if not match:
        return None
    return CONSOLE_URL.format(region=match["region"], job=match["job"], project=project or match["project"])
