"""Content checks for the shipped deck in cards/: it builds, it is big enough, and it
covers every section of the study notes it was written from.

The coverage table below maps each section of the notes to the cards that teach it.
When you add, rename or remove a card, or the notes gain a section, update the table.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from deckgen.build import build
from deckgen.compile import compile_deck
from deckgen.notetypes import NOTE_TYPES, cards_per_note
from deckgen.schema import CLOZE_RE

REPO = Path(__file__).resolve().parents[1]
CARDS = REPO / "cards"
# CI checks out shared/ beside the clone, so from the repo root this is
# ../shared/source-notes/ecs-eks-ecr.md.
NOTES = Path(__file__).resolve().parents[2] / "shared/source-notes/ecs-eks-ecr.md"

MIN_NOTES = 100
MIN_CARDS_PER_SUBDECK = 5

# Section of the notes -> ids of the cards that teach it. A `###` section is written
# "Parent > Child" after its `##` section, so that same-named subsections stay apart.
COVERAGE: dict[str, list[str]] = {
    "ECS Architecture": [
        "ecs-docker-on-aws",
        "ecs-cluster-term",
        "ecs-task-what-is",
        "ecs-task-vs-task-definition",
        "ecs-essential-container",
        "ecs-service-term",
        "ecs-launch-types-two",
        "ecs-launch-type-ec2-term",
        "ecs-launch-type-fargate-term",
        "ecs-ec2-launch-type-asg",
        "ecs-ec2-needs-agent",
        "ecs-fargate-you-provide",
        "ecs-fargate-sizing",
    ],
    "ECS - Removing Containers From a Cluster": [
        "ecs-remove-instance-problem",
        "ecs-remove-running-instance",
        "ecs-remove-stopped-instance",
        "ecs-deregister-how",
        "ecs-deregister-cli",
    ],
    "ECS - Tag & Retag": [
        "ecr-retag-no-pull",
        "ecr-retag-command",
        "ecr-retag-option",
        "ecr-retag-steps",
        "ecr-retag-benefit",
    ],
    "ECS IAM Roles": [
        "ecs-iam-two-roles",
        "ecs-iam-instance-profile-launch-type",
        "ecs-iam-instance-profile-user",
        "ecs-iam-instance-profile-example",
        "ecs-iam-task-role-term",
        "ecs-iam-task-role-where",
        "ecs-iam-task-role-defined-in",
        "ecs-iam-task-role-example",
        "ecs-iam-task-role-per-task",
        "ecs-iam-task-execution-role",
    ],
    "ECS - Config File": [
        "ecs-agent-config-path",
        "ecs-agent-config-cluster-key",
        "ecs-agent-config-cfn-pitfall",
        "ecs-agent-config-default-cluster",
        "ecs-config-enable-task-iam-role",
    ],
    "ECS - Data Volumes > S3 (Can't)": [
        "ecs-vol-s3-not-mountable",
        "ecs-vol-s3-how-to-use",
    ],
    "ECS - Data Volumes > EFS": [
        "ecs-vol-efs-what",
        "ecs-vol-efs-launch-types",
        "ecs-vol-efs-use-case",
    ],
    "ECS - Data Volumes > Bind Mounts": [
        "ecs-vol-bind-mount-what",
        "ecs-vol-bind-mount-launch-types",
        "ecs-vol-bind-mount-lifetime",
        "ecs-vol-bind-mount-use-cases",
        "ecs-vol-sidecar-pattern",
        "ecs-vol-sidecar-why",
    ],
    "ECS - Service Auto Scaling": [
        "ecs-scaling-service-vs-asg",
        "ecs-scaling-engine",
        "ecs-scaling-fargate-easier",
    ],
    "ECS - Service Auto Scaling > Service Scaling methods": [
        "ecs-scaling-methods",
        "ecs-scaling-target-tracking-term",
        "ecs-scaling-step-term",
        "ecs-scaling-scheduled-term",
        "ecs-scaling-tt-metrics",
        "ecs-scaling-alb-metric-source",
    ],
    "ECS - Service Auto Scaling > Auto Scaling EC2 Instances": [
        "ecs-scaling-asg-instances",
        "ecs-capacity-provider-term",
        "ecs-capacity-provider-vs-asg-policies",
        "ecs-capacity-provider-fargate",
    ],
    "ECS Tasks Placement (EC2 Launch Type only)": [
        "ecs-placement-ec2-only",
        "ecs-placement-purpose",
        "ecs-placement-json",
    ],
    "ECS Tasks Placement (EC2 Launch Type only) > Strategies": [
        "ecs-placement-strategies",
        "ecs-placement-binpack-term",
        "ecs-placement-binpack-why",
        "ecs-placement-random-term",
        "ecs-placement-random-name",
        "ecs-placement-spread-term",
    ],
    "ECS Tasks Placement (EC2 Launch Type only) > Constraints": [
        "ecs-placement-constraints",
        "ecs-placement-distinct-instance-name",
        "ecs-placement-member-of-name",
        "ecs-placement-member-of-example",
    ],
    "ECS Rolling Update": [
        "ecs-rolling-update-defaults",
        "ecs-rolling-min-healthy-term",
        "ecs-rolling-max-percent-term",
        "ecs-rolling-update-example",
        "ecs-rolling-update-peak",
    ],
    "ECS - Task Definitions": [
        "ecs-taskdef-term",
        "ecs-taskdef-format",
        "ecs-taskdef-max-containers",
        "ecs-taskdef-contents",
        "ecs-taskdef-env-sources",
        "ecs-taskdef-logging-example",
    ],
    "ECS - Load Balancing > EC2": [
        "ecs-lb-fixed-port-conflict",
        "ecs-lb-host-port-zero",
        "ecs-lb-dynamic-port-mapping-term",
        "ecs-lb-dynamic-port-how",
        "ecs-lb-alb-finds-port",
        "ecs-lb-ec2-security-group",
        "ecs-lb-ec2-security-group-why",
    ],
    "ECS - Load Balancing > Fargate": [
        "ecs-lb-fargate-eni",
        "ecs-lb-fargate-network-mode",
        "ecs-lb-fargate-ports",
        "ecs-lb-fargate-security-group",
        "ecs-lb-fargate-target-type",
    ],
    "Migrating containers from EC2 to Fargate": [
        "ecs-migrate-api",
        "ecs-migrate-providers",
        "ecs-migrate-not-create",
        "ecs-migrate-strategy",
        "ecs-capacity-base-term",
        "ecs-capacity-weight-term",
        "ecs-fargate-spot-interruption",
    ],
    "AWS Copilot": [
        "copilot-term",
        "copilot-targets",
        "copilot-pipeline",
        "copilot-pipeline-commands",
        "copilot-end-of-support",
    ],
    "Elastic Kubernetes Service (EKS)": [
        "eks-kubernetes-term",
        "eks-term",
        "eks-vs-ecs",
        "eks-compute-options",
        "eks-use-case",
        "eks-cloud-agnostic",
        "eks-pod-vs-ecs-task",
        "eks-node-vs-ecs",
    ],
    "Elastic Kubernetes Service (EKS) > Node types": [
        "eks-node-types",
        "eks-managed-node-groups-term",
        "eks-self-managed-nodes-term",
        "eks-fargate-nodes",
    ],
    "Elastic Kubernetes Service (EKS) > Data Volumes": [
        "eks-storage-class",
        "eks-storage-csi",
        "eks-storage-supported",
        "eks-storage-fargate-ebs",
        "eks-storage-ebs-csi-addon",
    ],
    "Elastic Container Registry (ECR)": [
        "ecr-term",
        "ecr-private-public",
        "ecr-permissions",
    ],
    "Elastic Container Registry (ECR) > Example pulling an image from ECR": [
        "ecr-pull-steps",
        "ecr-login-command",
        "ecr-login-username",
        "ecr-login-password-stdin",
        "ecr-login-full-command",
        "ecr-token-lifetime",
        "ecr-registry-url",
        "ecr-pull-command",
    ],
}

# Headings the notes leave empty but the deck still teaches (checked against AWS's
# documentation). They are not in COVERAGE because the notes give them no content.
FILLED_GAPS: dict[str, list[str]] = {
    "ECS - Data Volumes > EBS": [
        "ecs-vol-ebs-supported",
        "ecs-vol-ebs-launch-types",
        "ecs-vol-ebs-when-configured",
        "ecs-vol-ebs-configured-at-launch",
        "ecs-vol-ebs-per-task",
        "ecs-vol-ebs-source",
        "ecs-vol-ebs-service-lifetime",
    ],
}


def note_sections(text: str) -> tuple[list[str], list[str]]:
    """The notes' `##`/`###` sections: (those with content, those without), in order.

    A section's content is any non-blank line up to the next `#`/`##`/`###` heading;
    deeper headings (`####`) and their text count as content of the section above.
    Lines in fenced code blocks are never headings.
    """
    order: list[str] = []
    has_content: dict[str, bool] = {}
    current: str | None = None
    parent: str | None = None
    fence: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if fence is None:
            match = re.match(r"(#{1,6})\s+(.+?)\s*#*\s*$", line)
            if match and len(match.group(1)) <= 3:
                level, title = len(match.group(1)), match.group(2).strip()
                if level == 1:
                    current = parent = None
                    continue
                if level == 2:
                    parent = current = title
                else:
                    current = f"{parent} > {title}" if parent else title
                if current in has_content:
                    raise AssertionError(f"the notes have two sections named {current!r}")
                order.append(current)
                has_content[current] = False
                continue
            opened = re.match(r"(`{3,}|~{3,})", stripped)
            if opened:
                fence = opened.group(1)
        elif stripped.startswith(fence):
            fence = None
        if current is not None and stripped:
            has_content[current] = True
    return [s for s in order if has_content[s]], [s for s in order if not has_content[s]]


@pytest.fixture(scope="module")
def compiled():
    return compile_deck(CARDS)


@pytest.fixture(scope="module")
def card_ids(compiled) -> set[str]:
    return {rc.card.id for rc in compiled.cards}


def test_deck_builds(tmp_path):
    cards = tmp_path / "cards"
    shutil.copytree(CARDS, cards)  # a build writes the lock beside the cards
    result = build(cards, tmp_path / "out", now=1_800_000_000)
    assert result.packages and all(p.path.is_file() for p in result.packages)
    whole = next(p for p in result.packages if p.topic is None)
    assert whole.notes == len(compile_deck(CARDS).cards)


def test_at_least_100_notes(compiled):
    assert len(compiled.cards) >= MIN_NOTES


def test_every_subdeck_has_at_least_5_cards(compiled):
    per_topic: dict[str, int] = {topic.key: 0 for topic in compiled.deck.topics}
    for rc in compiled.cards:
        per_topic[rc.topic] += cards_per_note(NOTE_TYPES[rc.card.type], rc.card.fields)
    small = {key: n for key, n in per_topic.items() if n < MIN_CARDS_PER_SUBDECK}
    assert not small, f"subdecks with fewer than {MIN_CARDS_PER_SUBDECK} cards: {small}"
    # Notes too: a topic of one five-deletion cloze would pass the count above.
    notes = {t.key: len(t.cards) for t in compiled.deck.topics if len(t.cards) < MIN_CARDS_PER_SUBDECK}
    assert not notes, f"topic files with fewer than {MIN_CARDS_PER_SUBDECK} notes: {notes}"


def test_every_listed_topic_is_a_subdeck(compiled):
    assert [t.key for t in compiled.deck.topics][: len(compiled.deck.config.topic_order)] == list(
        compiled.deck.config.topic_order
    )


def test_card_ids_are_unique():
    """Read from the files themselves: compiling would already stop at a duplicate."""
    seen: dict[str, str] = {}
    duplicates = []
    for path in sorted(CARDS.glob("*.yaml")):
        if path.name == "deck.yaml":
            continue
        for card in yaml.safe_load(path.read_text(encoding="utf-8"))["cards"]:
            if card["id"] in seen:
                duplicates.append(f"{card['id']} ({seen[card['id']]} and {path.name})")
            seen.setdefault(card["id"], path.name)
    assert len(seen) >= MIN_NOTES
    assert not duplicates, f"duplicate card ids: {duplicates}"


def _visible_text(html: str) -> str:
    without_tags = re.sub(r"<[^>]+>", "", html)
    return re.sub(r"&[a-z]+;|&#\d+;", "x", without_tags).strip()


def test_no_rendered_field_is_empty(compiled):
    empty = []
    for rc in compiled.cards:
        for key, html in rc.fields.items():
            if not _visible_text(html) and "<img" not in html:
                empty.append(f"{rc.card.id}.{key}")
    assert not empty, f"fields that render to nothing: {empty}"


def test_every_cloze_card_has_a_deletion(compiled):
    clozes = [rc for rc in compiled.cards if rc.card.type == "cloze"]
    assert clozes, "the deck has no cloze cards at all"
    missing = [rc.card.id for rc in clozes if not CLOZE_RE.search(rc.fields.get("text", ""))]
    assert not missing, f"cloze cards without a {{{{c1::...}}}} deletion after rendering: {missing}"
    # A deletion must hide something.
    blank = [
        rc.card.id
        for rc in clozes
        for m in CLOZE_RE.finditer(rc.fields["text"])
        if not _visible_text(m.group(2).split("::")[0])
    ]
    assert not blank, f"cloze deletions that hide nothing: {blank}"


@pytest.mark.parametrize("section", list(COVERAGE))
def test_every_notes_section_is_taught(section, card_ids):
    taught_by = COVERAGE[section]
    assert taught_by, f"no card teaches notes section {section!r}"
    unknown = [card_id for card_id in taught_by if card_id not in card_ids]
    assert not unknown, f"section {section!r} lists card ids that are not in the deck: {unknown}"


def test_filled_gaps_point_at_real_cards(card_ids):
    for section, taught_by in FILLED_GAPS.items():
        assert taught_by, section
        unknown = [card_id for card_id in taught_by if card_id not in card_ids]
        assert not unknown, f"{section!r} lists card ids that are not in the deck: {unknown}"


def test_every_card_traces_to_a_notes_section(card_ids):
    mapped = [card_id for ids in (*COVERAGE.values(), *FILLED_GAPS.values()) for card_id in ids]
    twice = sorted({card_id for card_id in mapped if mapped.count(card_id) > 1})
    assert not twice, f"cards listed under more than one section: {twice}"
    orphans = sorted(card_ids - set(mapped))
    assert not orphans, f"cards not listed under any notes section in COVERAGE: {orphans}"


@pytest.mark.skipif(not NOTES.is_file(), reason=f"study notes not found at {NOTES}")
def test_coverage_table_matches_the_notes_headings():
    with_content, without_content = note_sections(NOTES.read_text(encoding="utf-8"))
    missing = [s for s in with_content if s not in COVERAGE]
    stale = [s for s in COVERAGE if s not in with_content]
    assert not missing and not stale, (
        f"sections in the notes but not in COVERAGE: {missing}; "
        f"sections in COVERAGE but not (or empty) in the notes: {stale}"
    )
    not_empty = sorted(set(FILLED_GAPS) - set(without_content))
    assert not not_empty, f"FILLED_GAPS must name headings the notes leave empty: {not_empty}"


def test_note_sections_parser():
    text = (
        "[Back](x.md)\n\n# Title\n\n## A\n\n- fact\n\n## B\n\n### B1\n\ntext\n\n### B2\n\n"
        "## C\n\n```sh\n# not a heading\n```\n\n### C1\n\n#### deeper\n\n1. step\n"
    )
    assert note_sections(text) == (["A", "B > B1", "C", "C > C1"], ["B", "B > B2"])
