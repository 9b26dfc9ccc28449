"""The pure helpers of ``wandb_api/runs.py`` behind the batched run-state reads and the worker's run result."""

from __future__ import annotations

import json

import pytest

from airflow_wandb_launch.wandb_api.runs import (
    RUNS_PAGE_SIZE,
    aread_run_states,
    group_by_project,
    read_run_result,
    read_runs_state,
    runs_filter,
    runs_variables,
)


@pytest.mark.parametrize(
    ("run_ids", "expected"),
    [
        ([], {"name": {"$in": []}}),
        (["abc"], {"name": {"$in": ["abc"]}}),
        (["b2", "a1", "b2"], {"name": {"$in": ["a1", "b2"]}}),  # sorted, each once: one filter per set of runs
        (["run-1", "run_2", "RUN3"], {"name": {"$in": ["RUN3", "run-1", "run_2"]}}),
    ],
)
def test_runs_filter(run_ids, expected):
    assert json.loads(runs_filter(run_ids)) == expected
    assert runs_filter(run_ids) == runs_filter(list(reversed(run_ids)))  # the order asked in does not matter


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        ([], {}),
        (["e/p/a"], {("e", "p"): ["a"]}),
        (["e/p/a", "e/q/b", "e/p/c"], {("e", "p"): ["a", "c"], ("e", "q"): ["b"]}),
        (["e/p/a", "f/p/a"], {("e", "p"): ["a"], ("f", "p"): ["a"]}),  # the same project name in two entities
        (["e/p/a", "e/p/a"], {("e", "p"): ["a", "a"]}),  # repeats kept: the filter sets them once
    ],
)
def test_group_by_project(paths, expected):
    assert group_by_project(paths) == expected


@pytest.mark.parametrize("path", ["e/p", "e/p/r/x", "just-a-run"])
def test_group_by_project_refuses_paths_that_are_not_entity_project_run(path):
    with pytest.raises(ValueError):
        group_by_project([path])


def test_runs_variables():
    assert runs_variables("e", "p", ["b", "a"], "100") == {
        "entity": "e",
        "project": "p",
        "filters": '{"name": {"$in": ["a", "b"]}}',
        "first": RUNS_PAGE_SIZE,
        "cursor": "100",
    }


def _node(name: str, state: str, summary: dict | None = None) -> dict:
    return {"node": {"name": name, "state": state, "summaryMetrics": None if summary is None else json.dumps(summary)}}


def _runs_page(edges: list, end: str | None = None, more: bool = False) -> dict:
    return {"project": {"runs": {"pageInfo": {"endCursor": end, "hasNextPage": more}, "edges": edges}}}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, ({}, None)),
        ({"project": None}, ({}, None)),  # no such project (yet)
        ({"project": {"runs": None}}, ({}, None)),
        (_runs_page([]), ({}, None)),
        (
            _runs_page([_node("a", "running", {"loss": 0.5}), _node("b", "finished")], end="2"),
            ({"a": {"state": "running", "summary": {"loss": 0.5}}, "b": {"state": "finished", "summary": {}}}, None),
        ),
        (
            _runs_page([_node("a", "crashed", {})], end="100", more=True),
            ({"a": {"state": "crashed", "summary": {}}}, "100"),
        ),
        (_runs_page([], end="7", more=False), ({}, None)),  # a cursor without a next page is not followed
        ({"project": {"runs": {"edges": [_node("a", "killed")]}}}, ({"a": {"state": "killed", "summary": {}}}, None)),
    ],
)
def test_read_runs_state(data, expected):
    assert read_runs_state(data) == expected


def _artifact(name: str, index: int, aliases: list[str], type_: str | None = "model") -> dict:
    return {
        "node": {
            "versionIndex": index,
            "artifactType": {"name": type_} if type_ else None,
            "artifactSequence": {"name": name},
            "aliases": [{"alias": a} for a in aliases],
        }
    }


def _run(state: str = "finished", summary: dict | None = None, artifacts: list | None = None, more: bool = False):
    connection = {"pageInfo": {"endCursor": "1", "hasNextPage": more}, "edges": artifacts or []}
    run = {"id": "UnVuOmU=", "name": "r", "state": state, "outputArtifacts": connection}
    run["summaryMetrics"] = json.dumps(summary) if summary is not None else None
    return {"project": {"run": run}}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, (None, None)),
        ({"project": None}, (None, None)),
        ({"project": {"run": None}}, (None, None)),  # no such run
        (
            _run("running", None),
            ({"id": "UnVuOmU=", "state": "running", "summary": {}, "artifacts": []}, None),
        ),
        (
            _run("finished", {"loss": 0.1, "_wandb": {"runtime": 3}, "_wandb.x": 1, "_step": 9}),
            ({"id": "UnVuOmU=", "state": "finished", "summary": {"loss": 0.1, "_step": 9}, "artifacts": []}, None),
        ),  # W&B's own bookkeeping keys dropped, the user's kept
        (
            _run("finished", {}, [_artifact("model", 2, ["v2", "latest", "best"]), _artifact("data", 0, ["v0"], None)]),
            (
                {
                    "id": "UnVuOmU=",
                    "state": "finished",
                    "summary": {},
                    "artifacts": [
                        {
                            "name": "model",
                            "type": "model",
                            "version": "v2",
                            "aliases": ["latest", "best"],
                            "uri": "wandb-artifact://e/p/model:v2",
                        },
                        {
                            "name": "data",
                            "type": None,
                            "version": "v0",
                            "aliases": [],
                            "uri": "wandb-artifact://e/p/data:v0",
                        },
                    ],
                },
                None,
            ),
        ),
        (
            _run("failed", {}, [_artifact("model", 0, ["v0"])], more=True),
            (
                {
                    "id": "UnVuOmU=",
                    "state": "failed",
                    "summary": {},
                    "artifacts": [
                        {
                            "name": "model",
                            "type": "model",
                            "version": "v0",
                            "aliases": [],
                            "uri": "wandb-artifact://e/p/model:v0",
                        }
                    ],
                },
                "1",
            ),
        ),  # more artifacts: the next page's cursor
    ],
)
def test_read_run_result(data, expected):
    assert read_run_result(data, "e", "p") == expected


class _Pages:
    """A GraphQL client answering ``AirflowRunsState`` from stored runs, ``page`` runs at a time."""

    def __init__(self, runs: dict[str, str], page: int = RUNS_PAGE_SIZE) -> None:
        self.runs, self.page, self.asked = runs, page, []

    async def aexecute(self, query: str, variables: dict, operation: str) -> dict:
        self.asked.append((operation, variables["project"], variables["cursor"]))
        wanted = json.loads(variables["filters"])["name"]["$in"]
        prefix = f"{variables['entity']}/{variables['project']}/"
        names = [p.removeprefix(prefix) for p in sorted(self.runs) if p.startswith(prefix)]
        names = [n for n in names if n in wanted]
        start = int(variables["cursor"] or 0)
        page = names[start : start + self.page]
        edges = [_node(n, self.runs[prefix + n]) for n in page]
        return _runs_page(edges, str(start + len(page)), start + len(page) < len(names))


async def test_aread_run_states_reads_each_project_page_by_page_and_marks_missing_runs():
    stored = {f"e/p/r{i:03d}": "running" for i in range(5)} | {"e/q/x": "finished", "e/p/other": "failed"}
    client = _Pages(stored, page=2)
    wanted = [f"e/p/r{i:03d}" for i in range(5)] + ["e/q/x", "e/q/missing"]

    found = await aread_run_states(client, wanted)

    assert found == {
        **{f"e/p/r{i:03d}": {"state": "running", "summary": {}} for i in range(5)},
        "e/q/x": {"state": "finished", "summary": {}},
        "e/q/missing": None,  # not there (yet)
    }
    assert client.asked == [
        ("AirflowRunsState", "p", None),
        ("AirflowRunsState", "p", "2"),
        ("AirflowRunsState", "p", "4"),
        ("AirflowRunsState", "q", None),
    ]
