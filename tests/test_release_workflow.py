"""The GitHub workflows: valid against GitHub's workflow schema (checked offline), and
the release job's shell steps run here as the runner would, with a stand-in `gh`."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deckgen.build import build

from conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"

# Logs each call and answers from files the test prepared. `--jq` goes through the
# real jq, which reads the same expressions as the gojq inside gh.
FAKE_GH = """
import fnmatch, json, os, shutil, subprocess, sys
from pathlib import Path

state = Path(os.environ["FAKE_GH"])
args = sys.argv[1:]
with (state / "calls.jsonl").open("a") as log:
    log.write(json.dumps({"args": args, "cwd": os.getcwd()}) + "\\n")


def values(flag):
    return [args[i + 1] for i, arg in enumerate(args) if arg == flag]


if args[:2] == ["release", "list"]:
    releases = (state / "releases.json").read_text()
    sys.exit(subprocess.run(["jq", "-r", values("--jq")[0]], input=releases, text=True).returncode)
if args[:2] == ["release", "download"]:
    target = Path(values("--dir")[0])
    assets = sorted((state / "assets" / args[2]).iterdir())
    matched = [p for p in assets if any(fnmatch.fnmatch(p.name, g) for g in values("--pattern"))]
    if not matched:
        sys.exit("no assets match the file pattern")
    target.mkdir(parents=True, exist_ok=True)
    for path in matched:
        shutil.copy(path, target / path.name)
    sys.exit(0)
if args[:2] == ["release", "create"]:
    sys.exit(0)
sys.exit(f"fake gh: unexpected call {args}")
"""


def _workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def _triggers(workflow: dict) -> dict:
    return workflow[True]  # YAML 1.1 (PyYAML) reads the key `on` as true


def _steps(job: dict) -> dict[str, dict]:
    return {step.get("name", step.get("uses")): step for step in job["steps"]}


def _check_jsonschema(*files: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
    return subprocess.run([*command, *map(str, files)], capture_output=True, text=True)


def test_workflows_match_githubs_schema():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["ci.yml", "release.yml"]
    result = _check_jsonschema(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_job_without_a_runner(tmp_path):
    text = (WORKFLOWS / "release.yml").read_text(encoding="utf-8")
    broken = tmp_path / "release.yml"
    broken.write_text(text.replace("    runs-on: ubuntu-latest\n", ""), encoding="utf-8")
    result = _check_jsonschema(broken)
    assert result.returncode == 1
    assert "'runs-on' is a required property" in result.stdout


def test_ci_runs_the_ci_script_on_pushes_and_pull_requests_as_root_on_debian():
    workflow = _workflow("ci.yml")
    assert set(_triggers(workflow)) == {"push", "pull_request", "workflow_call"}
    (job,) = workflow["jobs"].values()
    assert job["container"].endswith("-bookworm")  # .ci/run uses apt-get, as root
    assert [s["run"] for s in _steps(job).values() if "run" in s] == ["bash .ci/run"]


def test_release_runs_on_version_tags_after_ci_and_publishes_only_for_a_tag():
    workflow = _workflow("release.yml")
    assert _triggers(workflow) == {"push": {"tags": ["v*"]}}
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["jobs"]["test"] == {"uses": "./.github/workflows/ci.yml"}
    job = workflow["jobs"]["release"]
    assert job["needs"] == "test"
    assert job["permissions"] == {"contents": "write"}
    names = list(_steps(job))
    assert names.index("Fetch the previous release") < names.index("Build the release")
    assert names.index("Build the release") < names.index("Publish")
    assert _steps(job)["Publish"]["if"] == "startsWith(github.ref, 'refs/tags/v')"


@pytest.fixture
def runner(real_cards, tmp_path):
    """A checkout of the tagged commit as the runner has it, and a `gh` that records."""
    if shutil.which("jq") is None:
        pytest.skip("jq is needed to answer gh --jq")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    shutil.copytree(real_cards, workspace / "cards")
    build(workspace / "cards", tmp_path / "locking")  # a commit ready to release has its lock
    (workspace / "scripts").symlink_to(REPO / "scripts")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(f"#!{sys.executable}\n{FAKE_GH}", encoding="utf-8")
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    state = tmp_path / "gh-state"
    (state / "assets").mkdir(parents=True)
    version = yaml.safe_load((real_cards / "deck.yaml").read_text(encoding="utf-8"))["version"]
    tag = f"v{version}"
    env = os.environ | {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "TAG": tag,
        "GITHUB_REF": f"refs/tags/{tag}",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GH_TOKEN": "not-a-token",
        "FAKE_GH": str(state),
    }
    return {"workspace": workspace, "state": state, "env": env, "tag": tag, "tmp": tmp_path}


def _run_step(runner: dict, name: str) -> subprocess.CompletedProcess:
    """One `run:` step as the runner runs it with `shell: bash`."""
    job = _workflow("release.yml")["jobs"]["release"]
    assert job["defaults"]["run"]["shell"] == "bash"
    script = runner["tmp"] / "step.sh"
    script.write_text(_steps(job)[name]["run"], encoding="utf-8")
    command = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)]
    return subprocess.run(command, cwd=runner["workspace"], env=runner["env"], capture_output=True, text=True)


def _gh_calls(runner: dict) -> list[dict]:
    log = runner["state"] / "calls.jsonl"
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def _release_job(runner: dict, releases: list[dict]) -> str:
    """Fetch, build and publish; returns the fetch step's output."""
    (runner["state"] / "releases.json").write_text(json.dumps(releases), encoding="utf-8")
    fetched = _run_step(runner, "Fetch the previous release")
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    for name in ("Build the release", "Publish"):
        result = _run_step(runner, name)
        assert result.returncode == 0, result.stdout + result.stderr
    return fetched.stdout


def _published(runner: dict) -> dict:
    (create,) = [call for call in _gh_calls(runner) if call["args"][:2] == ["release", "create"]]
    release = runner["workspace"] / "release"
    assert Path(create["cwd"]) == release
    assets = (release / "assets.txt").read_text(encoding="utf-8").splitlines()
    tag = runner["tag"]
    options = ["--verify-tag", "--title", tag, "--notes-file", "RELEASE-NOTES.md"]
    assert create["args"] == ["release", "create", tag, *assets, *options]
    assert all((release / name).is_file() for name in assets)
    return {"assets": assets, "notes": (release / "RELEASE-NOTES.md").read_text(encoding="utf-8")}


def test_release_job_without_a_previous_release(runner):
    fetch_output = _release_job(runner, [])
    assert "No previous release" in fetch_output
    assert list((runner["workspace"] / "previous").iterdir()) == []
    published = _published(runner)
    assert "aws-containers.apkg" in published["assets"] and "SHA256SUMS" in published["assets"]
    assert "## Changes\n\nFirst release.\n" in published["notes"]
    summary = (runner["tmp"] / "summary.md").read_text(encoding="utf-8")
    assert summary == published["notes"]


def test_release_job_with_a_previous_release(runner):
    # The latest release holds an older build (one card's back read differently) and
    # files that are not packages, which the fetch leaves behind.
    old_cards = runner["tmp"] / "old-cards"
    shutil.copytree(runner["workspace"] / "cards", old_cards)
    topic = yaml.safe_load((old_cards / "ecr.yaml").read_text(encoding="utf-8"))
    edited = next(card for card in topic["cards"] if "back" in card)
    edited["back"] = "Zebra quokka."
    (old_cards / "ecr.yaml").write_text(yaml.safe_dump(topic, sort_keys=False), encoding="utf-8")
    config = yaml.safe_load((old_cards / "deck.yaml").read_text(encoding="utf-8"))
    (old_cards / "deck.yaml").write_text(yaml.safe_dump(config | {"version": "0.9.0"}), encoding="utf-8")
    old_assets = runner["state"] / "assets" / "v0.9.0"
    build(old_cards, old_assets)
    (old_assets / "RELEASE-NOTES.md").write_text("old notes", encoding="utf-8")
    releases = [
        {"tagName": "v0.9.1-rc1", "isLatest": False},
        {"tagName": "v0.9.0", "isLatest": True},
        {"tagName": "v0.8.0", "isLatest": False},
    ]

    fetch_output = _release_job(runner, releases)
    assert "Previous release: v0.9.0" in fetch_output
    previous = runner["workspace"] / "previous"
    assert sorted(p.name for p in previous.iterdir()) == sorted(
        p.name for p in old_assets.iterdir() if p.suffix == ".apkg" or p.name == "manifest.json"
    )
    notes = _published(runner)["notes"]
    assert "## Changes since deck version 0.9.0\n\n0 added, 1 changed, 0 removed.\n" in notes
    assert f"- Changed `{edited['id']}`: Back: ~~Zebra quokka.~~" in notes


def test_release_job_stops_when_the_tag_is_released_already(runner):
    releases = [{"tagName": runner["tag"], "isLatest": True}]
    (runner["state"] / "releases.json").write_text(json.dumps(releases), encoding="utf-8")
    result = _run_step(runner, "Fetch the previous release")
    assert result.returncode == 1
    assert f"::error::Release {runner['tag']} exists already" in result.stdout
    assert [call["args"][:2] for call in _gh_calls(runner)] == [["release", "list"]]
