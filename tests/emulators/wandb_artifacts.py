"""Artifact files for the W&B fake: W&B job specs (``wandb-job.json``), manifests, and their download URLs.

How the real SDK (wandb 0.31) reads one file of a logged artifact, and what the fake answers:

1. GraphQL ``ArtifactMembershipByName`` (``api.artifact("entity/project/name:alias")``).
2. GraphQL ``FetchArtifactManifest`` -> ``artifact.currentManifest.file.directUrl``; then a plain ``GET`` of that
   URL (a presigned storage URL on real W&B: no auth) returns the manifest JSON
   (``{"version": 1, "storagePolicy": ..., "storagePolicyConfig": {"storageLayout": "V2"}, "contents": {...}}``).
3. ``GET {base}/artifactsV2/{region}/{entity}/{project}/{collection}/{birthArtifactID}/{md5 hex}/{file name}``
   with HTTP basic auth ``api:<key>`` returns the file (the manifest says ``storageLayout: V2``, as W&B's do).

Files are kept by the hex MD5 of their content, as W&B's storage does.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

Json = dict[str, Any]

JOB_FILE = "wandb-job.json"
STORAGE_POLICY = "wandb-storage-policy-v1"
#: the unauthenticated prefix standing in for presigned object-storage URLs.
SIGNED_PREFIX = "/_signed/"
EMPTY_TYPES = {"wb_type": "typedDict", "params": {"type_map": {}}}


def job_spec(source_type: str, *, image: str, entrypoint: list[str] | None) -> Json:
    """A ``wandb-job.json`` as wandb's ``JobBuilder`` writes it, for an image, code-artifact or git-repo job."""
    if source_type == "image":
        source: Json = {"image": image}
        if entrypoint:  # W&B image jobs store an entry point only when one was given
            source["entrypoint"] = list(entrypoint)
    elif source_type == "artifact":
        source = {
            "artifact": "wandb-artifact://_id/QXJ0aWZhY3Q6MQ==",
            "entrypoint": list(entrypoint or ["python", "train.py"]),
            "notebook": False,
        }
    elif source_type == "repo":
        source = {
            "git": {"remote": "https://github.com/acme/train.git", "commit": "0" * 40},
            "entrypoint": list(entrypoint or ["python", "train.py"]),
            "notebook": False,
        }
    else:
        raise ValueError(f"source_type must be image, artifact or repo, not {source_type!r}")
    return {
        "_version": "v0",
        "source_type": source_type,
        "source": source,
        "input_types": EMPTY_TYPES,
        "output_types": EMPTY_TYPES,
        "runtime": "3.11",
    }


class ArtifactFiles:
    """Content-addressed file store (md5 hex -> bytes) with the manifests of artifact versions."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        digest = hashlib.md5(data).hexdigest()
        self.blobs[digest] = data
        return digest

    def manifest(self, artifact_id: str, files: dict[str, bytes]) -> tuple[str, int]:
        """Store the files and their (version 1) manifest; return the manifest's md5 hex and the files' total size."""
        contents = {}
        for path, data in files.items():
            digest = self.put(data)
            contents[path] = {
                "digest": base64.b64encode(bytes.fromhex(digest)).decode(),
                "birthArtifactID": artifact_id,
                "size": len(data),
            }
        manifest = {
            "version": 1,
            "storagePolicy": STORAGE_POLICY,
            "storagePolicyConfig": {"storageLayout": "V2", "storageRegion": "default"},
            "contents": contents,
        }
        return self.put(json.dumps(manifest).encode()), sum(len(d) for d in files.values())

    def route(self, path: str) -> tuple[str | None, bool]:
        """The md5 hex a download URL path names (None if it is no download URL), and whether it needs auth."""
        parts = path.split("?")[0].strip("/").split("/")
        if path.startswith(SIGNED_PREFIX) and len(parts) == 2:
            return parts[1], False
        if parts[0] == "artifactsV2" and len(parts) >= 7:  # V2: /artifactsV2/{region}/.../{hex}/{file name}
            return parts[-2], True
        return None, False
