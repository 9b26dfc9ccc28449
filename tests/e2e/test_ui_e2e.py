"""The provider in Airflow's UI, in a real browser: a task's extra links and the ``wandb`` connection form.

``sagemaker_training`` runs on the e2e stack (SageMaker and W&B emulated, as in test_sagemaker_e2e.py); headless
Chromium (Debian's ``chromium``, driven by Playwright; scripts/_browser.sh installs it) then opens the api-server's
React UI as a user would. The simple auth manager lets every request in as admin (``SIMPLE_AUTH_MANAGER_ALL_ADMINS``),
so there is no login page.

Screenshots go to pytest's temp dir; a passing run copies them to docs/screenshots/ (the README shows one) where one is
missing there, or all of them with ``UPDATE_UI_SCREENSHOTS=1``: they change with every run (dates, run ids), and a test
run leaves the committed images alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from airflow_wandb_launch.get_provider_info import get_provider_info
from airflow_wandb_launch.links import CloudJobLink, WandbRunLink
from tests.conftest import ENTITY, ROOT
from tests.e2e.conftest import DAG_ID
from tests.e2e.stack import AirflowStack
from tests.e2e.test_sagemaker_e2e import (  # the autouse fixture unpauses the DAG in this module too
    PROJECT,
    SLOW,
    _sagemaker_training_unpaused,  # noqa: F401
    run_dag,
)
from tests.emulators.lifecycle import Lifecycle

CHROMIUM = shutil.which("chromium")
SCREENSHOTS = ROOT / "docs" / "screenshots"
#: each wait in the browser (the UI loads its parts lazily, from the api-server's REST API)
TIMEOUT_MS = 30_000

# both checked before the stack starts: without a browser, nothing of this module runs
playwright = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (it is in the dev dependency group: uv sync)"
)
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no chromium on PATH: scripts/_browser.sh installs Debian's chromium where apt-get is usable "
        "(root or passwordless sudo)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright.Browser]:
    """Headless Chromium: the distro's build, never a browser Playwright downloads."""
    with playwright.sync_playwright() as p:
        # /dev/shm is small in containers; Playwright adds --no-sandbox itself (root needs it)
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where this run's screenshots go (pytest's temp dir); ``publish`` copies them to docs/screenshots/."""
    return tmp_path


@pytest.fixture
def page(browser: playwright.Browser, screenshots: Path) -> Iterator[playwright.Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    with contextlib.suppress(playwright.Error):  # what the browser showed last, if the test failed
        page.screenshot(path=screenshots / "last-page.png")
    print(f"screenshots of this run: {screenshots}")
    context.close()


def publish(screenshots: Path, names: list[str]) -> None:
    """Copy a passing run's screenshots to docs/screenshots/: those missing there, or all with UPDATE_UI_SCREENSHOTS=1
    (the images change with every run: dates, run ids; a test run leaves the committed ones alone)."""
    update = os.environ.get("UPDATE_UI_SCREENSHOTS") == "1"
    for name in names:
        if update or not (SCREENSHOTS / name).exists():
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(screenshots / name, SCREENSHOTS / name)


def test_task_links_and_the_wandb_connection_form(airflow_stack: AirflowStack, sagemaker, container, page, screenshots):
    sagemaker.script(Lifecycle(("InProgress", SLOW), "Completed"))
    run_id, tis, watch = run_dag(airflow_stack)
    assert tis["train"]["state"] == "success", watch.states
    run_url = airflow_stack.xcom(DAG_ID, run_id, "train", "run_url")
    job_url = airflow_stack.xcom(DAG_ID, run_id, "train", "job_url")
    [job] = sagemaker.job_names()
    run = airflow_stack.xcom(DAG_ID, run_id, "train", "run_id")
    assert run_url == f"{container.server.base_url}/{ENTITY}/{PROJECT}/runs/{run}"
    assert job_url.startswith("https://") and job_url.endswith(f"#/jobs/{job}"), job_url

    # the task instance's page, as the grid links it; its Details tab lists the extra links
    page.goto(f"{airflow_stack.base_url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}/tasks/train")
    page.get_by_role("link", name="Details", exact=True).click()
    page.get_by_role("heading", name="Extra Links", exact=True).wait_for()
    links = {name: page.get_by_role("link", name=name, exact=True) for name in (WandbRunLink.name, CloudJobLink.name)}
    for link in links.values():
        link.wait_for()
    # the page's top, down to the links: the task, its tabs and the links (below them is the details table)
    bottom = max(box["y"] + box["height"] for box in (link.bounding_box() for link in links.values()) if box)
    page.screenshot(path=screenshots / "task-links.png", clip={"x": 0, "y": 0, "width": 1280, "height": bottom + 10})
    assert links[WandbRunLink.name].get_attribute("href") == run_url
    assert links[CloudJobLink.name].get_attribute("href") == job_url
    # both open elsewhere (a new tab), without handing this page to them
    for link in links.values():
        assert link.get_attribute("target") == "_blank"
        assert "noopener" in (link.get_attribute("rel") or "")

    # the connection form: Admin > Connections > Add Connection, type Weights & Biases
    [conn_type] = get_provider_info()["connection-types"]
    page.goto(f"{airflow_stack.base_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("combobox").fill("wandb")  # the select finds a type by its id or its name
    page.get_by_role("option", name="Weights & Biases", exact=True).click()
    conn_id = dialog.get_by_label("Connection ID")
    conn_id.fill("wandb_default")
    conn_id.blur()  # no focus ring in the screenshots

    # standard fields: host and password relabeled (the README's "password = API key, host = base URL"), the host
    # with W&B's URL as placeholder; login, port and schema hidden
    host, password = dialog.get_by_label("Base URL", exact=True), dialog.get_by_label("API key", exact=True)
    host.wait_for()
    assert host.get_attribute("name") == "host" and password.get_attribute("name") == "password"
    assert host.get_attribute("placeholder") == "https://api.wandb.ai"
    assert password.get_attribute("type") == "password"
    labels = {text.strip() for text in dialog.locator("label").all_inner_texts()}
    assert {"Description", "Base URL", "API key"} <= labels, labels
    assert not {"Host", "Password", "Login", "Port", "Schema"} & labels, labels  # the UI's own names for them
    for hidden in conn_type["ui-field-behaviour"]["hidden-fields"]:
        assert dialog.locator(f"input[name={hidden}]").count() == 0, hidden
    dialog.screenshot(path=screenshots / "wandb-connection.png")

    # extra fields: the connection's own (saved in its extra), each with its label and description
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    fields = conn_type["conn-fields"]
    assert {name: field["label"] for name, field in fields.items()} == {
        "entity": "Default entity",
        "project": "Default project",
    }
    for name, field in fields.items():
        dialog.locator(f"input[name=element_{name}]").wait_for()
        assert dialog.get_by_text(field["label"], exact=True).is_visible(), field["label"]
        assert dialog.get_by_text(field["description"], exact=True).is_visible(), field["description"]
    dialog.screenshot(path=screenshots / "wandb-connection-extra.png")
    publish(screenshots, ["task-links.png", "wandb-connection.png", "wandb-connection-extra.png"])
