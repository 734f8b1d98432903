"""The Hub's cache shared with huggingface_hub, both ways, against emergent's local Hub.

    python hub_interop.py fixture URL DIR   huggingface_hub fills DIR from the Hub at URL:
                                            emergent-test/small at step23 whole, and the
                                            config.json of step60 (the committed fixture)
    python hub_interop.py read CACHE        huggingface_hub, offline, reads what emergent
                                            fetched into CACHE and scans it
"""

import json
import os
import sys

REPO = "emergent-test/small"


def fixture(url: str, cache: str) -> None:
    os.environ["HF_ENDPOINT"] = url
    from huggingface_hub import hf_hub_download, snapshot_download

    snapshot_download(REPO, revision="step23", cache_dir=cache)
    hf_hub_download(REPO, "config.json", revision="step60", cache_dir=cache)


def read(cache: str) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    from huggingface_hub import hf_hub_download, scan_cache_dir, snapshot_download

    out = {}
    for rev in ["step60", "step156"]:
        folder = snapshot_download(REPO, revision=rev, cache_dir=cache, local_files_only=True)
        files = sorted(os.listdir(folder))
        sizes = {f: os.path.getsize(os.path.join(folder, f)) for f in files}
        out[rev] = {"snapshot": os.path.relpath(folder, cache), "files": sizes}
        hf_hub_download(REPO, "config.json", revision=rev, cache_dir=cache, local_files_only=True)
    info = scan_cache_dir(cache)
    out["scan"] = {
        "repos": [r.repo_id for r in info.repos],
        "revisions": sorted(sorted(r.refs) for repo in info.repos for r in repo.revisions),
        "warnings": [str(w) for w in info.warnings],
        "size_on_disk": info.size_on_disk,
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    {"fixture": fixture, "read": read}[sys.argv[1]](*sys.argv[2:])
