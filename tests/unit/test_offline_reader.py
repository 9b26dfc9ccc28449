"""offline.py against REAL offline W&B runs: summary, state, artifacts read from the run's .wandb transaction log.

Two runs are made once per module, in parallel (each starts wandb-core: ~3 s): one that finishes, one that raises.
They start when the module is imported and the module-scoped ``wandb_dir`` fixture waits for them.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_wandb_launch.wandb_api.offline import FRAME, FULL, HEADER, find_offline_run, iter_records, read_offline_run

PROJECT = "offline-proj"
RUNS = {"finished": "offrunok", "failed": "offrunbad"}
SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import wandb

    run_id, fail = sys.argv[1], sys.argv[2] == "fail"
    run = wandb.init(id=run_id, project=sys.argv[3], config={"lr": 0.1})
    for step in range(3):
        run.log({"loss": 1.0 / (step + 1), "acc": 0.5 + step * 0.1, "nested": {"value": step}})
    run.summary["best_acc"] = 0.95
    run.summary["loss"] = 0.25  # an explicit summary value overrides the last logged one
    model = Path("model.json")
    model.write_text('{"w": 2.0, "b": 0.5}')
    artifact = wandb.Artifact("toy-model", type="model")
    artifact.add_file(str(model))
    run.log_artifact(artifact, aliases=["best"])
    if fail:
        raise RuntimeError("training blew up")
    run.finish()
    """
)


def _start_runs(root: Path) -> dict[str, subprocess.Popen]:
    """Start both runs at once (each spends ~3 s starting wandb-core)."""
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DIR": str(root / "dir"),
        "WANDB_DATA_DIR": str(root / "data"),
        "WANDB_CACHE_DIR": str(root / "cache"),
        "WANDB_CONFIG_DIR": str(root / "config"),
    }
    for name in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ENTITY", "WANDB_PROJECT", "WANDB_RUN_ID"):
        env.pop(name, None)
    (root / "dir").mkdir()
    procs = {}
    for outcome, run_id in RUNS.items():
        cwd = root / f"cwd-{outcome}"
        cwd.mkdir()
        procs[outcome] = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, run_id, "fail" if outcome == "failed" else "ok", PROJECT],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return procs


# Started when the module is collected, so the runs overlap the other tests; the fixture waits for them.
_ROOT = Path(tempfile.mkdtemp(prefix="offline-runs-"))
_PROCS = _start_runs(_ROOT)


@atexit.register
def _cleanup() -> None:  # also when the fixture never ran (tests deselected)
    for proc in _PROCS.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    shutil.rmtree(_ROOT, ignore_errors=True)


@pytest.fixture(scope="module")
def wandb_dir() -> Iterator[Path]:
    try:
        for outcome, proc in _PROCS.items():
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == (1 if outcome == "failed" else 0), out
            if outcome == "failed":
                assert "training blew up" in out
        yield _ROOT / "dir"
    finally:
        _cleanup()


@pytest.fixture(scope="module")
def run_dirs(wandb_dir) -> dict[str, Path]:
    dirs = {outcome: find_offline_run(wandb_dir, run_id) for outcome, run_id in RUNS.items()}
    assert all(dirs.values()), list((wandb_dir / "wandb").iterdir())
    return dirs


@pytest.mark.parametrize("outcome", list(RUNS))
def test_find_offline_run_picks_the_runs_folder(wandb_dir, run_dirs, outcome):
    folder = run_dirs[outcome]
    assert folder.parent == wandb_dir / "wandb"
    assert folder.name.startswith("offline-run-")
    assert folder.name.endswith(f"-{RUNS[outcome]}")
    assert (folder / f"run-{RUNS[outcome]}.wandb").is_file()


def test_find_offline_run_missing_and_newest(wandb_dir, tmp_path):
    assert find_offline_run(wandb_dir, "nosuchrun") is None
    assert find_offline_run(tmp_path, "offrunok") is None  # no wandb/ folder at all
    for stamp in ("20260101_000000", "20260301_000000", "20260201_000000"):
        (tmp_path / "wandb" / f"offline-run-{stamp}-abc").mkdir(parents=True)
    (tmp_path / "wandb" / "offline-run-20270101_000000-abcd").mkdir()  # another run whose id starts alike
    assert find_offline_run(tmp_path, "abc").name == "offline-run-20260301_000000-abc"


@pytest.mark.parametrize(("outcome", "state"), [("finished", "finished"), ("failed", "failed")])
def test_state(run_dirs, outcome, state):
    info = read_offline_run(run_dirs[outcome])
    assert info.state == state
    assert info.offline is True
    assert info.url is None


@pytest.mark.parametrize("outcome", list(RUNS))
def test_summary_has_last_logged_and_explicit_values(run_dirs, outcome):
    summary = read_offline_run(run_dirs[outcome]).summary
    assert summary["acc"] == pytest.approx(0.7)
    assert summary["best_acc"] == 0.95
    assert summary["loss"] == 0.25  # set explicitly after the last log
    assert summary["nested"] == {"value": 2}
    assert summary["_step"] == 2
    assert "_wandb" not in summary


@pytest.mark.parametrize(
    ("entity", "uri"),
    [
        (None, f"wandb-artifact://{PROJECT}/toy-model:latest"),
        ("my-team", f"wandb-artifact://my-team/{PROJECT}/toy-model:latest"),
    ],
)
def test_artifact(run_dirs, entity, uri):
    info = read_offline_run(run_dirs["finished"], entity)
    assert len(info.artifacts) == 1
    artifact = info.artifacts[0]
    assert artifact["name"] == "toy-model"
    assert artifact["type"] == "model"
    assert "latest" in artifact["aliases"]
    assert "best" in artifact["aliases"]
    assert artifact["version"] is None  # known only once `wandb sync` uploads it
    assert artifact["uri"] == uri
    assert artifact["digest"]
    assert set(artifact["files"]) == {"model.json"}
    local = Path(artifact["files"]["model.json"])
    assert local.is_file()
    assert local.read_text() == '{"w": 2.0, "b": 0.5}'
    assert artifact["path"] == str(local.parent)


def test_failed_run_still_lists_its_artifact(run_dirs):
    assert [a["name"] for a in read_offline_run(run_dirs["failed"]).artifacts] == ["toy-model"]


def test_iter_records_yields_every_record(run_dirs):
    log = next(run_dirs["finished"].glob("run-*.wandb"))
    records = list(iter_records(log))
    assert len(records) > 5
    assert all(isinstance(r, bytes) and r for r in records)


# --- corrupt logs --------------------------------------------------------------------------------------------------


def _write_log(tmp_path: Path, data: bytes) -> Path:
    folder = tmp_path / "offline-run-20260101_000000-x"
    folder.mkdir()
    (folder / "run-x.wandb").write_bytes(data)
    return folder


@pytest.mark.parametrize(
    "data",
    [b"", b":W&B", b"not a wandb log at all", b"\x00" * 100, b"SQLite format 3\x00"],
    ids=["empty", "short-header", "text", "zeros", "other-format"],
)
def test_not_a_transaction_log_is_a_value_error(tmp_path, data):
    folder = _write_log(tmp_path, data)
    with pytest.raises(ValueError, match="is not a W&B transaction log"):
        read_offline_run(folder)


def test_header_only_log_is_a_running_run(tmp_path):
    info = read_offline_run(_write_log(tmp_path, HEADER))
    assert info.state == "running"
    assert info.summary == {} and info.artifacts == []


def _frame(kind: int, payload: bytes, length: int | None = None) -> bytes:
    return FRAME.pack(0, len(payload) if length is None else length, kind) + payload


def _run_record(project: str) -> bytes:
    from wandb.proto import wandb_internal_pb2 as pb

    return pb.Record(run=pb.RunRecord(run_id="x", project=project)).SerializeToString()


def test_synthetic_log_is_read(tmp_path):
    folder = _write_log(tmp_path, HEADER + _frame(FULL, _run_record("synthetic")))
    info = read_offline_run(folder, "ent")
    assert info.state == "running"  # no exit record


def test_truncated_log_is_never_a_protobuf_error(tmp_path):
    whole = _frame(FULL, _run_record("complete"))
    cut = _run_record("p" * 200)
    # the second record's frame says 200+ bytes, but the file ends 20 bytes into it, inside a string field
    data = HEADER + whole + _frame(FULL, cut[:20], length=len(cut))
    folder = _write_log(tmp_path, data)
    try:
        info = read_offline_run(folder)
    except ValueError:
        return
    assert info.state != "finished"
