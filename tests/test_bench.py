"""The benchmark's generator makes a deck that builds, and the baseline runs on it.

No timings here: benchmarks are run by hand (bench/run.py), not asserted in tests.
"""

import gc
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from deckgen import cache as cache_module
from deckgen import compile as compile_module
from deckgen.build import build
from deckgen.cache import BuildCache
from deckgen.check import check
from deckgen.compile import compile_deck
from deckgen.errors import DeckError, Problems
from deckgen.lock import DeckStamp, Lock, NoteStamp, dump_lock, parse_lock, patch_lock
from deckgen.render import render_fields
from deckgen.validate import read_topic_file

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

from generate import edit_one_card, generate  # noqa: E402


def test_generated_cards_build_and_one_edit_changes_one_card(tmp_path):
    topic_files = generate(tmp_path / "cards", 50)
    first = build(tmp_path / "cards", tmp_path / "out", now=1_800_000_000)
    assert sum(t.notes for t in first.topics) == 50
    assert len(first.stamping.added) == 50

    edit_one_card(topic_files[0])
    second = build(tmp_path / "cards", tmp_path / "out", now=1_800_000_100)
    assert second.stamping.changed == ["card-000000"]


def test_generator_is_deterministic(tmp_path):
    generate(tmp_path / "a", 50)
    generate(tmp_path / "b", 50)
    for path in (tmp_path / "a").rglob("*"):
        if path.is_file():
            assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes()


def test_baseline_writes_a_package(tmp_path):
    generate(tmp_path / "cards", 50)
    out = tmp_path / "baseline.apkg"
    subprocess.run(
        [sys.executable, str(BENCH / "baseline.py"), str(tmp_path / "cards"), str(out)], check=True
    )
    assert out.stat().st_size > 0


def test_build_leaves_the_garbage_collector_as_it_found_it(tmp_path):
    """build() collects garbage less often while it runs (a speed lever), then restores."""
    generate(tmp_path / "cards", 50)
    before = gc.get_threshold()
    build(tmp_path / "cards", tmp_path / "out", now=1_800_000_000)
    assert gc.get_threshold() == before
    (tmp_path / "cards" / "topic-0000.yaml").write_text("deck: [", encoding="utf-8")
    with pytest.raises(DeckError):
        build(tmp_path / "cards", tmp_path / "out", now=1_800_000_000)
    assert gc.get_threshold() == before


def test_build_reports_the_time_of_each_phase(tmp_path):
    generate(tmp_path / "cards", 50)
    result = build(tmp_path / "cards", tmp_path / "out", now=1_800_000_000)
    phases = result.work.phases
    assert set(phases) == {"read", "render", "identify", "package", "report"}
    assert all(seconds >= 0 for seconds in phases.values())
    assert phases["read"] > 0 and phases["package"] > 0


_FINDS_A_SPINNING_SIBLING = """
import os, sys
def spins(pid):
    try:
        parent = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
        command = open(f"/proc/{pid}/cmdline", "rb").read()
    except (OSError, ValueError):
        return False
    return parent == os.getppid() and command.endswith(b"while True: pass\\0")
sys.exit(0 if any(spins(p) for p in os.listdir("/proc") if p.isdigit()) else 3)
"""


def test_bench_runs_deckgen_and_reads_its_phases(tmp_path):
    import run

    generate(tmp_path / "cards", 20)
    phases = tmp_path / "phases.json"
    args = ("build", "--cards", str(tmp_path / "cards"), "--out", str(tmp_path / "out"))
    measured = run.measure(run.deckgen_command(phases, *args), phases)
    assert (tmp_path / "out" / "bench-deck.apkg").exists()
    assert set(measured.phases) == {*run.PHASES, "other"}
    assert sum(measured.phases.values()) == pytest.approx(measured.seconds)
    line = run.phase_line("cold", measured)
    assert line.split() == [
        "cold:",
        *(f"{word}" for p in (*run.PHASES, "other") for word in (p, f"{measured.phases[p]:.2f}")),
    ]


def test_bench_compiles_the_bytecode_of_the_package_the_builds_import(tmp_path, monkeypatch):
    """So that no timed run compiles deckgen's modules from source (PYTHONDONTWRITEBYTECODE)."""
    import importlib.machinery
    import importlib.util

    import run

    package = tmp_path / "deckgen"
    (package / "inner").mkdir(parents=True)
    modules = [package / "__init__.py", package / "one.py", package / "inner" / "__init__.py"]
    for module in modules:
        module.write_text("VALUE = 1\n", encoding="utf-8")
    spec = importlib.machinery.ModuleSpec("deckgen", None, is_package=True)
    spec.submodule_search_locations = [str(package)]
    monkeypatch.setattr(run.importlib.util, "find_spec", lambda name: spec if name == "deckgen" else None)
    run.compile_bytecode()
    assert all(Path(importlib.util.cache_from_source(str(module))).is_file() for module in modules)


def test_bench_pairs_each_round_with_its_own_baseline(tmp_path):
    import run

    best, rounds = run.bench_size(20, 2, tmp_path)
    assert set(best) == {"baseline", "cold", "one card"} and set(rounds) == {"cold", "one card"}
    assert all(len(ratios) == 2 and all(r > 0 for r in ratios) for ratios in rounds.values())
    line = run.round_line({"cold": [0.5, 0.7, 0.6], "one card": [0.1, 0.3]}).split()
    assert line == [
        "rounds:",
        "cold",
        "median",
        "0.60",
        "(0.50-0.70)",
        "one",
        "card",
        "median",
        "0.20",
        "(0.10-0.30)",
    ]


def test_bench_busy_mode_runs_a_spinning_process_beside_the_run_and_ends_it(tmp_path):
    import run

    run.measure([sys.executable, "-c", _FINDS_A_SPINNING_SIBLING], busy=True)
    with pytest.raises(SystemExit):  # the finder fails: nothing spins beside it now
        run.measure([sys.executable, "-c", _FINDS_A_SPINNING_SIBLING], busy=False)


# -- the shortcuts of a rebuild give what the long way gives ---------------------------


def test_patched_lock_is_the_dumped_lock():
    notes = {f"card-{i}": NoteStamp(f"h{i}", 100 + i, "topic", "basic") for i in range(6)}
    old = parse_lock(dump_lock(Lock("ns", notes, {}, {})), "deck.lock", Problems())
    assert old is not None
    kept = dict(old.notes)
    kept["card-2"] = replace(kept["card-2"], hash="edited", changed=500)  # changed
    del kept["card-4"]  # gone from the lock (forgotten)
    kept["card-3"] = replace(kept["card-3"], removed=True, fields=("Q", "A"), tags=("t",))
    kept["card-10"] = NoteStamp("new", 600, "other", "cloze", guid="g")  # added (sorts 2nd)
    kept["a-first"] = NoteStamp("new", 600, "other", "basic")
    new = replace(old, notes=kept, decks={"": DeckStamp("d", 1, "Deck")})
    assert patch_lock(dump_lock(old), old, new) == dump_lock(new)
    assert patch_lock(dump_lock(old), old, replace(new, notes={})) == dump_lock(replace(new, notes={}))


def test_rebuilds_with_and_without_the_lock_patch_write_the_same_lock(tmp_path):
    """With the cache, a rebuild patches the lock it wrote; without, it dumps it all."""
    runs = {}
    for name in ("patched", "dumped"):
        cards = tmp_path / name
        topic_files = generate(cards, 410)  # three topic files
        locks = []
        for step in range(3):
            if name == "dumped":
                shutil.rmtree(tmp_path / f"out-{name}" / ".cache", ignore_errors=True)
            result = build(cards, tmp_path / f"out-{name}", now=1_800_000_000 + step)
            locks.append((cards / "deck.lock").read_text(encoding="utf-8"))
            assert result.lock_written == (step < 2)
            if step == 0:
                edit_one_card(topic_files[1])
                text = topic_files[2].read_text(encoding="utf-8")  # its last card removed:
                topic_files[2].write_text(text[: text.rindex("\n  - id:")] + "\n", encoding="utf-8")
        runs[name] = locks
    assert runs["patched"] == runs["dumped"]
    lock = parse_lock(runs["patched"][-1], "deck.lock", Problems())
    assert lock is not None and dump_lock(lock) == runs["patched"][-1]


@pytest.mark.parametrize("broken", [None, "card", "field"])
def test_topics_read_ahead_on_every_core_build_what_one_process_builds(tmp_path, monkeypatch, broken):
    """Each worker reads a topic and renders its fields: the same packages, problems
    and cache as one process reading and rendering in turn."""
    topic_files = generate(tmp_path / "cards", 410)  # three topic files
    text = topic_files[1].read_text(encoding="utf-8")
    if broken == "card":  # a card with a problem: reported alike, and its topic never kept
        topic_files[1].write_text(text.replace("    front: '", "    frnt: '", 1), encoding="utf-8")
    if broken == "field":  # a field with a problem, found while rendering
        topic_files[1].write_text(
            text.replace("    front: '", "    front: '![x](no-such.png) ", 1), encoding="utf-8"
        )
    outcomes, rendered_by_main = {}, {}
    for name, threshold in (("one process", 10**12), ("read ahead", 0)):
        monkeypatch.setattr(cache_module, "READ_AHEAD_BYTES", threshold)
        rendered: list[str] = []

        def counting(cards_dir, requests, progress=None, rendered=rendered):
            rendered.extend(request.text for request in requests)
            return render_fields(cards_dir, requests, progress)

        monkeypatch.setattr(compile_module, "render_fields", counting)
        out = tmp_path / name
        reports: list[tuple] = []
        try:
            result = build(
                tmp_path / "cards", out, now=1_800_000_000, progress=lambda *a, r=reports: r.append(a)
            )
            work = result.work
            packages = {p.name: p.read_bytes() for p in out.glob("*.apkg")}
            outcomes[name] = (work.topics_read, sorted(work.fields_rendered), packages)
            again = build(tmp_path / "cards", out, now=1_800_000_000).work  # all from the cache
            assert again.fields_rendered == () and again.topics_read == ()
        except DeckError as error:
            outcomes[name] = [(p.location, p.message) for p in error.problems]
        rendered_by_main[name] = rendered
        renders = [(done, total) for step, done, total in reports if step == "render"]
        assert renders == sorted(renders) and (not renders or renders[-1][0] == renders[-1][1])
    assert outcomes["read ahead"] == outcomes["one process"]
    assert ("frnt" in repr(outcomes["read ahead"])) == (broken == "card")
    assert ("no-such.png" in repr(outcomes["read ahead"])) == (broken == "field")
    assert len(rendered_by_main["one process"]) > 400
    assert rendered_by_main["read ahead"] == []  # every field rendered by the worker that read it


_COMPILED_BY = "DECKGEN_TEST_COMPILED_BY"  # a file: each topic compiled, and the process that did


def _recording_compile(*args, **kwargs):
    """compile._compile_alone, noting which process compiled which topic (sent to workers
    by name, so defined here)."""
    topic = args[3]
    with open(os.environ[_COMPILED_BY], "a", encoding="utf-8") as record:
        record.write(f"{os.getpid()} {topic.key}\n")
    return _real_compile_alone(*args, **kwargs)


_real_compile_alone = compile_module._compile_alone


def test_the_build_process_compiles_the_topics_no_worker_has_started(tmp_path, monkeypatch):
    """Rather than wait for the workers, the build's own process takes back the topics
    none has started, from the last, and compiles them: each topic once, and the same
    packages, progress and cache as one process compiling all of them."""
    import generate as generate_module

    monkeypatch.setattr(generate_module, "CARDS_PER_TOPIC", 12)
    topic_files = generate(tmp_path / "cards", 144)  # twelve topic files
    keys = [path.stem for path in topic_files]
    monkeypatch.setattr(compile_module, "_compile_alone", _recording_compile)
    outcomes = {}
    for name, threshold in (("one process", 10**12), ("read ahead", 0)):
        monkeypatch.setattr(cache_module, "READ_AHEAD_BYTES", threshold)
        record = tmp_path / f"{name}.txt"
        record.touch()
        monkeypatch.setenv(_COMPILED_BY, str(record))
        reports: list[tuple] = []
        out = tmp_path / name
        result = build(tmp_path / "cards", out, now=1_800_000_000, progress=lambda *a, r=reports: r.append(a))
        # (the cache's other files name the out folder, which differs)
        kept = [p for folder in ("topics", "fields") for p in (out / ".cache" / folder).glob("*")]
        cache_files = {p.relative_to(out): p.read_bytes() for p in kept}
        packages = {p.name: p.read_bytes() for p in out.glob("*.apkg")}
        outcomes[name] = (result.work.topics_read, sorted(result.work.fields_rendered), packages, cache_files)
        compiled = [line.split() for line in record.read_text(encoding="utf-8").splitlines()]
        if name == "one process":
            assert compiled == []  # (compile_deck renders the fields itself)
            continue
        assert sorted(key for _pid, key in compiled) == keys  # each topic once
        here = [key for pid, key in compiled if pid == str(os.getpid())]
        assert here and here == keys[len(keys) - len(here) :][::-1]  # from the last
        assert len(here) < len(keys)  # (the workers compiled the others)
        renders = [(done, total) for step, done, total in reports if step == "render"]
        assert renders == [(done, len(keys)) for done in range(1, len(keys) + 1)]
    assert outcomes["read ahead"] == outcomes["one process"]


def test_jobs_are_taken_back_from_the_last_until_one_a_worker_has_started():
    """workers.taken_back: each cancelled only as the caller comes to it."""
    from concurrent.futures import Future

    from deckgen.workers import taken_back

    futures = [Future() for _ in range(5)]
    futures[1].set_running_or_notify_cancel()  # a worker has started job 1
    jobs = list(zip("abcde", futures, strict=True))
    taken = []
    for job in taken_back(jobs):
        taken.append(job)
        if job == "d":
            futures[2].set_running_or_notify_cancel()  # meanwhile a worker starts job 2
    assert taken == ["e", "d"]
    assert [f.cancelled() for f in futures] == [False, False, False, True, True]


def test_topics_compiled_ahead_take_their_unchanged_fields_from_the_cache(tmp_path, monkeypatch):
    """Cards added to two topics: the workers that read them again render only the new
    cards' fields, the others from the cache, as one process would."""
    monkeypatch.setattr(cache_module, "READ_AHEAD_BYTES", 0)
    outcomes = {}
    for name, threshold in (("one process", 10**12), ("read ahead", 0)):
        cards, out = tmp_path / name / "cards", tmp_path / name / "out"
        topic_files = generate(cards, 410)
        build(cards, out, now=1_800_000_000)
        monkeypatch.setattr(cache_module, "READ_AHEAD_BYTES", threshold)
        for index in (0, 2):  # (a card added: the quick rebuild does not take it)
            text = topic_files[index].read_text(encoding="utf-8")
            new = (
                f"cards:\n  - id: added-{index}\n    front: 'Added {index}?'\n    back: '**Yes**, {index}.'\n"
            )
            topic_files[index].write_text(text.replace("cards:\n", new, 1), encoding="utf-8")
        work = build(cards, out, now=1_800_000_060).work
        assert not work.quick
        packages = {p.name: p.read_bytes() for p in out.glob("*.apkg")}
        outcomes[name] = (work.topics_read, sorted(work.fields_rendered), packages)
        assert build(cards, out, now=1_800_000_060).work.fields_rendered == ()
    assert outcomes["read ahead"][1] == ["**Yes**, 0.", "**Yes**, 2.", "Added 0?", "Added 2?"]
    assert outcomes["read ahead"] == outcomes["one process"]

    cache = BuildCache(tmp_path / "fresh")
    topics = [(path.stem, path) for path in topic_files]
    assert cache.read_ahead(topics, read_topic_file) == [path.stem for path in topic_files]
    monkeypatch.setattr(cache_module, "READ_AHEAD_BYTES", 10**12)
    assert BuildCache(tmp_path / "fresh").read_ahead(topics, read_topic_file) == []


def test_check_uses_the_build_cache_and_changes_nothing(tmp_path, monkeypatch):
    cards, out = tmp_path / "cards", tmp_path / "out"
    topic_files = generate(cards, 50)
    build(cards, out, now=1_800_000_000)
    edit_one_card(topic_files[0])
    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    rendered: list[str] = []

    def counting(cards_dir, requests, progress=None):
        rendered.extend(request.text for request in requests)
        return render_fields(cards_dir, requests, progress)

    monkeypatch.setattr(compile_module, "render_fields", counting)
    cached = check(cards, out_dir=out)
    assert rendered == [cached.compiled.cards[0].card.fields["front"]]  # the edited field only
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == before
    rendered.clear()
    uncached = check(cards)
    assert len(rendered) > 50
    assert cached.stamping == uncached.stamping and cached.compiled.cards == uncached.compiled.cards


def test_a_command_that_only_compiles_keeps_the_packages_index(tmp_path):
    """`deckgen preview` may keep what it read and rendered without losing the packages."""
    cards, out = tmp_path / "cards", tmp_path / "out"
    topic_files = generate(cards, 50)
    build(cards, out, now=1_800_000_000)
    edit_one_card(topic_files[0])
    cache = BuildCache(out)
    compile_deck(cards, cache)
    cache.commit(None)
    again = build(cards, out, now=1_800_000_000)
    assert again.work.fields_rendered == () and again.work.topics_read == ()
    assert again.work.packages_written == ("bench-deck.apkg", "bench-deck-topic-0000.apkg")


def test_only_topics_the_cache_does_not_hold_are_read_ahead(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "READ_AHEAD_BYTES", 0)
    topic_files = generate(tmp_path / "cards", 610)  # four topic files
    build(tmp_path / "cards", tmp_path / "out", now=1_800_000_000)
    topics = [(path.stem, path) for path in topic_files]
    assert BuildCache(tmp_path / "out").read_ahead(topics, read_topic_file) == []
    edit_one_card(topic_files[0])
    edit_one_card(topic_files[2])
    assert BuildCache(tmp_path / "out").read_ahead(topics, read_topic_file) == ["topic-0000", "topic-0002"]
