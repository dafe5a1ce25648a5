"""Content checks for the shipped deck in cards/: it builds, it is big enough, and it
covers every section of the study notes it was written from.

The coverage table below maps each section of the notes to the cards that teach it;
EXAM_TOPICS maps the exam topics the notes leave out to theirs. When you add, rename or
retire a card, or the notes gain a section, update the tables. The review tables check
that the cards issue #20 found wrong now state the corrected fact, or were retired.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from deckgen.anki_package import read_anki_package
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
# Only live cards belong here: a retired card is replaced by its successor.
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
        "ecs-deregister-how",
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
        "ecs-vol-s3-files-role",
        "ecs-vol-s3-how-to-use",
    ],
    "ECS - Data Volumes > EFS": [
        "ecs-vol-efs-what",
        "ecs-vol-efs-launch-types",
        "ecs-vol-choose-efs",
    ],
    "ECS - Data Volumes > Bind Mounts": [
        "ecs-vol-bind-mount-what",
        "ecs-vol-bind-mount-launch-types",
        "ecs-vol-fargate-ephemeral-size",
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
        "ecs-scaling-predictive-scenario",
        "ecs-scaling-target-tracking-term",
        "ecs-scaling-step-term",
        "ecs-scaling-scheduled-term",
        "ecs-scaling-tt-alb-scenario",
        "ecs-scaling-tt-memory-scenario",
        "ecs-scaling-alb-metric-source",
        "ecs-scaling-max-capacity",
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
    ],
    "ECS Tasks Placement (EC2 Launch Type only) > Strategies": [
        "ecs-placement-spread-az-scenario",
        "ecs-placement-binpack-term",
        "ecs-placement-binpack-why",
        "ecs-placement-random-term",
        "ecs-placement-random-name",
        "ecs-placement-spread-term",
        "ecs-placement-chain-scenario",
    ],
    "ECS Tasks Placement (EC2 Launch Type only) > Constraints": [
        "ecs-placement-constraints",
        "ecs-placement-distinct-instance-name",
        "ecs-placement-member-of-name",
        "ecs-placement-member-of-example",
        "ecs-placement-unmet-constraint",
    ],
    "ECS Rolling Update": [
        "ecs-rolling-update-defaults",
        "ecs-rolling-min-healthy-term",
        "ecs-rolling-max-percent-term",
        "ecs-rolling-min100-scenario",
        "ecs-rolling-update-peak",
    ],
    "ECS - Task Definitions": [
        "ecs-taskdef-term",
        "ecs-taskdef-max-containers",
        "ecs-taskdef-new-revision",
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
        "ecs-capacity-strategy-scenario",
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
        "copilot-replacement",
    ],
    "Elastic Kubernetes Service (EKS)": [
        "eks-kubernetes-term",
        "eks-control-plane-managed",
        "eks-vs-ecs",
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
        "ecr-pull-needs-login",
        "ecr-login-command",
        "ecr-login-full-command",
        "ecr-token-lifetime",
        "ecr-registry-url",
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
        "ecs-vol-ebs-daemon",
    ],
}

# Exam topics around the notes that the notes don't cover at all (issue #20, point 2):
# topic -> ids of the cards that teach it.
EXAM_TOPICS: dict[str, list[str]] = {
    "The three IAM roles and secrets injection": [
        "ecs-iam-execution-role-parameter",
        "ecs-iam-scenario-app-access-denied",
        "ecs-iam-scenario-pull-fails",
        "ecs-iam-role-fallback-instance",
        "ecs-secrets-parameter",
        "ecs-secrets-value-from",
        "ecs-secrets-which-role",
        "ecs-secrets-rotation",
        "ecs-secrets-not-plain-env",
    ],
    "Network modes and awsvpc on EC2": [
        "ecs-net-awsvpc-eni",
        "ecs-net-awsvpc-recommended",
        "ecs-net-default-mode-linux",
        "ecs-net-host-mode-ports",
        "ecs-net-none-mode",
        "ecs-net-awsvpc-security-groups",
        "ecs-net-awsvpc-eni-limit",
        "ecs-net-managed-instances-modes",
        "ecs-net-private-subnet-ecr",
        "ecs-net-public-subnet-public-ip",
    ],
    "Deployment strategies and safety nets": [
        "ecs-rolling-min50-scenario",
        "ecs-deploy-circuit-breaker-term",
        "ecs-deploy-circuit-breaker-scenario",
        "ecs-deploy-circuit-breaker-threshold",
        "ecs-deploy-alarms-scenario",
        "ecs-deploy-blue-green-term",
        "ecs-deploy-bake-time",
        "ecs-deploy-canary-scenario",
        "ecs-deploy-linear-scenario",
        "ecs-deploy-traffic-shift-how",
        "ecs-deploy-lifecycle-hooks",
        "ecs-deploy-no-codedeploy-needed",
    ],
    "Capacity providers in depth": [
        "ecs-capacity-providers-recommended",
        "ecs-managed-instances-term",
        "ecs-anywhere-external",
        "ecs-cp-default-strategy",
        "ecs-cp-strategy-or-launch-type",
        "ecs-cp-managed-scaling-term",
        "ecs-cp-target-capacity",
        "ecs-cp-termination-protection-scenario",
        "ecs-cp-termination-protection-prereq",
        "ecs-cp-managed-draining",
        "ecs-cp-managed-instances-scenario",
        "ecs-cp-managed-instances-role",
        "ecs-cp-managed-instances-cluster",
        "ecs-cp-managed-instances-spot",
        "ecs-migrate-put-replaces-list",
    ],
    "Service types and task placement by default": [
        "ecs-standalone-task-vs-service",
        "ecs-service-type-daemon",
        "ecs-service-type-daemon-fargate",
        "ecs-service-replica-default-spread",
    ],
    "Task sizing, logging, observability and ECS Exec": [
        "ecs-size-fargate-smallest",
        "ecs-size-fargate-largest",
        "ecs-size-fargate-invalid-combo",
        "ecs-size-task-level-fargate",
        "ecs-size-memory-hard-soft",
        "ecs-size-oom-scenario",
        "ecs-stop-sigterm",
        "ecs-container-health-check",
        "ecs-log-firelens",
        "ecs-log-firelens-driver",
        "ecs-container-insights",
        "ecs-exec-what",
        "ecs-exec-enable",
        "ecs-exec-task-role",
    ],
    "Load balancing beyond ALB basics, and service-to-service discovery": [
        "ecs-lb-nlb-scenario",
        "ecs-lb-path-routing",
        "ecs-lb-host-routing",
        "ecs-lb-grace-period-scenario",
        "ecs-lb-deregistration-delay",
        "ecs-lb-health-check-speed",
        "ecs-lb-multiple-target-groups",
        "ecs-internet-traffic-lb",
        "ecs-service-connect-term",
        "ecs-service-connect-scenario",
        "ecs-service-discovery-cloud-map",
    ],
    "ECR features": [
        "ecr-lifecycle-untagged-scenario",
        "ecr-lifecycle-count-rule",
        "ecr-scan-basic-vs-enhanced",
        "ecr-scan-continuous",
        "ecr-replication-scenario",
        "ecr-replication-cross-account",
        "ecr-pull-through-cache-scenario",
        "ecr-pull-through-cache-auth",
        "ecr-tag-immutability-scenario",
        "ecr-repository-policy-cross-account",
    ],
    "EKS in depth": [
        "eks-auto-mode-term",
        "eks-hybrid-nodes-term",
        "eks-hybrid-nodes-network",
        "eks-auto-mode-storage-class",
        "eks-control-plane-azs",
        "eks-access-entries",
        "eks-access-entries-auth-mode",
        "eks-pod-identity-term",
        "eks-pod-identity-vs-irsa",
        "eks-irsa-oidc",
        "eks-pod-identity-agent",
        "eks-fargate-profile-selectors",
        "eks-fargate-pod-execution-role",
        "eks-fargate-profile-immutable",
        "eks-vpc-cni",
        "eks-core-addons",
        "eks-addons-why-managed",
        "eks-karpenter-vs-cas",
        "eks-auto-mode-scaling",
        "eks-auto-mode-node-lifetime",
        "eks-auto-mode-load-balancing",
        "eks-auto-mode-node-access",
        "eks-auto-mode-mix",
    ],
    "Where AWS steers newcomers today": [
        "ecs-express-mode-term",
        "ecs-express-mode-roles",
        "ecs-express-mode-resources",
        "apprunner-closed-to-new-customers",
        "choose-ecs-vs-eks",
        "choose-fargate-vs-managed-instances",
        "choose-eks-auto-mode",
    ],
}

# The review of deck 1.0 (issue #20) found these cards wrong or outdated. A card that
# keeps its id must now state the corrected fact: its visible text (all fields, cloze
# markers removed) must match the pattern. The patterns look for the corrected fact,
# so a card that still says only what the review found wrong fails.
REVIEW_CORRECTIONS: dict[str, str] = {
    "ecs-scaling-methods": r"predictive",
    "ecs-launch-types-two": r"(?s)(?=.*\bEXTERNAL\b)(?=.*Managed Instances)(?=.*capacity provider)",
    "ecs-migrate-not-create": r"Managed Instances",
    "ecs-vol-s3-not-mountable": r"can mount an Amazon S3 Files file system",
    "eks-node-types": r"(?s)(?=.*Auto Mode)(?=.*Hybrid Nodes)",
    "eks-storage-ebs-csi-addon": r"Auto Mode",
    "copilot-targets": r"\bdid Copilot run\b",
    "copilot-end-of-support": r"reached end of support",
    "apprunner-closed-to-new-customers": r"(?s)new customers.*ECS Express Mode",
    "ecs-iam-two-roles": r"(?s)three.*container instance role.*task execution role.*task role",
    "ecs-iam-instance-profile-example": r"register the instance with the cluster",
    "ecs-iam-instance-profile-launch-type": r"(?s)(?=.*Managed Instances)(?=.*Fargate tasks never)",
    "ecs-config-enable-task-iam-role": r"not the ECS-optimized",
    "ecs-vol-bind-mount-lifetime": r"sourcePath",
    "ecs-remove-instance-problem": r"EC2 instance was stopped",
    "ecs-vol-ebs-when-configured": r"task definition only names the volume",
    "ecs-vol-ebs-configured-at-launch": r"configuredAtLaunch",
    "ecs-placement-ec2-only": r"Managed Instances",
    "ecs-lb-fixed-port-conflict": r"(?s)never places.*PENDING",
    "ecs-migrate-api": r"whole list",
    "ecs-vol-efs-what": r"FSx for Windows File Server",
    "eks-storage-supported": r"Mountpoint for Amazon S3 to mount a bucket",
    "ecr-permissions": r"ecr:PutImage",
    "ecr-login-full-command": r"without putting the password",
}

# Cards of the review that were retired (merged, or replaced by scenario cards): the id
# must be gone from the deck and listed as retired, with a reason and a live successor.
REVIEW_RETIREMENTS: list[str] = [
    "eks-compute-options",
    "ecs-remove-running-instance",
    "ecs-remove-stopped-instance",
    "ecs-taskdef-contents",
    "ecs-taskdef-format",
    "ecs-placement-strategies",
    "ecs-placement-json",
    "ecs-scaling-tt-metrics",
    "ecs-rolling-update-example",
    "ecs-migrate-strategy",
    "ecr-pull-steps",
    "ecr-login-username",
    "ecr-login-password-stdin",
    "ecs-vol-efs-use-case",
]


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
        for key, field_html in rc.fields.items():
            if not _visible_text(field_html) and "<img" not in field_html:
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


def test_filled_gaps_and_exam_topics_point_at_real_cards(card_ids):
    for section, taught_by in (*FILLED_GAPS.items(), *EXAM_TOPICS.items()):
        assert taught_by, section
        unknown = [card_id for card_id in taught_by if card_id not in card_ids]
        assert not unknown, f"{section!r} lists card ids that are not in the deck: {unknown}"


def test_every_card_traces_to_a_notes_section(card_ids):
    tables = (*COVERAGE.values(), *FILLED_GAPS.values(), *EXAM_TOPICS.values())
    mapped = [card_id for ids in tables for card_id in ids]
    twice = sorted({card_id for card_id in mapped if mapped.count(card_id) > 1})
    assert not twice, f"cards listed under more than one section: {twice}"
    orphans = sorted(card_ids - set(mapped))
    assert not orphans, f"cards listed under no notes section or exam topic: {orphans}"


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


def _card_text(rc) -> str:
    """A card's visible text: every field, tags and cloze markers removed."""
    text = " ".join(rc.fields.values())
    text = re.sub(r"<[^>]+>", " ", text)
    text = re.sub(r"\{\{c\d+::(.*?)(?:::[^}]*)?\}\}", r"\1", html.unescape(text), flags=re.DOTALL)
    return re.sub(r"\s+", " ", text)


def _card_source(card_id: str) -> str:
    """The lines of a card's entry in its topic file, comments included."""
    for path in sorted(CARDS.glob("*.yaml")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if re.fullmatch(rf"\s*- id: {re.escape(card_id)}\s*", line):
                following = (j for j in range(i + 1, len(lines)) if re.match(r"\s*- id: ", lines[j]))
                return "\n".join(lines[i : next(following, len(lines))])
    raise AssertionError(f"no card {card_id!r} in {CARDS}")


def retirements() -> dict[str, dict]:
    """Every retired card by id, from the topic files' `retired:` lists."""
    found: dict[str, dict] = {}
    for path in sorted(CARDS.glob("*.yaml")):
        if path.name == "deck.yaml":
            continue
        for entry in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("retired") or []:
            found[entry["id"]] = entry
    return found


@pytest.mark.parametrize("card_id", list(REVIEW_CORRECTIONS))
def test_reviewed_card_states_the_corrected_fact(card_id, compiled):
    by_id = {rc.card.id: rc for rc in compiled.cards}
    assert card_id in by_id, f"{card_id} is not in the deck; retire it in REVIEW_RETIREMENTS instead"
    text = _card_text(by_id[card_id])
    assert re.search(REVIEW_CORRECTIONS[card_id], text), (
        f"{card_id} does not state the corrected fact /{REVIEW_CORRECTIONS[card_id]}/: {text}"
    )


@pytest.mark.parametrize("card_id", list(REVIEW_CORRECTIONS))
def test_reviewed_card_cites_aws_documentation(card_id):
    source = _card_source(card_id)
    assert re.search(r"# Checked: https://", source), f"{card_id} has no '# Checked:' comment"


def test_copilot_end_of_support_cites_aws_not_a_summary():
    source = _card_source("copilot-end-of-support")
    assert "aws.amazon.com/blogs/containers/" in source
    assert "bitslovers" not in source


@pytest.mark.parametrize("card_id", REVIEW_RETIREMENTS)
def test_reviewed_card_is_retired_with_a_successor(card_id, card_ids):
    assert card_id not in card_ids, f"{card_id} is still in the deck"
    retired = retirements()
    assert card_id in retired, f"{card_id} is gone but not listed as retired"
    entry = retired[card_id]
    assert str(entry.get("reason", "")).strip(), f"{card_id} is retired without a reason for learners"
    successor = entry.get("replaced_by")
    assert successor in card_ids, f"{card_id} is replaced by {successor!r}, which is not a live card"


def test_retired_ids_are_not_reused(card_ids):
    reused = sorted(set(retirements()) & card_ids)
    assert not reused, f"retired ids used again by live cards: {reused}"


def test_retired_ids_were_released_cards():
    # The lock remembers every id a build ever shipped: a retirement must name one of them.
    lock = json.loads((CARDS / "deck.lock").read_text(encoding="utf-8"))
    unknown = sorted(set(retirements()) - set(lock["notes"]))
    assert not unknown, f"retired ids that no release ever had (typos?): {unknown}"


def test_retired_cards_reach_learners_with_their_reason(tmp_path):
    """The 1.1.0 build's retired-cards package holds every retired card, each with its
    reason on its first field (the package learners of 1.0.0 import after the deck)."""
    cards = tmp_path / "cards"
    shutil.copytree(CARDS, cards)
    build(cards, tmp_path / "out")
    package = read_anki_package(tmp_path / "out" / "aws-containers-retired.apkg")
    retired = retirements()
    by_id = {package.fields_of(note)["ID"]: note for note in package.notes}
    assert set(by_id) == set(retired)
    for card_id, note in by_id.items():
        first = note.fields[0]
        assert first.startswith('<p class="deckgen-retired"><b>Retired in 1.1.0: ')
        assert retired[card_id]["reason"].replace('"', "&quot;")[:20].split("&")[0] in first
        assert "deckgen::retired" in note.tags
