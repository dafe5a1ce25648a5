"""`deckgen preview --watch`: build and preview again on every change, in a page that reloads.

An ending of the pipeline beside `build` and `preview`, run over and over:

    poll the cards folder -> build (build.py) + preview (preview.py) -> serve build/preview/

`watch_builds` polls the files under the cards folder (their modification times and
sizes, every `POLL_SECONDS`: no dependency, and the same on every system) and rebuilds
the packages and the preview page after each change; a build with errors changes
nothing on disk (build.py and preview.py stage their files), so the last good packages
and page stay. `PreviewServer` serves build/preview/ on 127.0.0.1 with the page made
live: a small script polls `STATE_PATH` for the build number, reloads the page when a
build succeeded and shows a banner with the located errors when one failed.

The page on disk stays the sealed, offline one (preview.py): the live script and the
`connect-src 'self'` its polling needs are added to the page as it is served, so they
exist only in watch mode. Nothing here prints: cli.py reports each `BuildOutcome`.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .build import BuildResult, build
from .errors import DeckError, Location, Problem, display_path
from .lock import LOCK_FILE
from .output import file_trouble
from .preview import PAGE_FILE, PREVIEW_DIR, PreviewResult, content_security_policy, write_preview

POLL_SECONDS = 0.3  # how often the cards folder is looked at, and the page asks for news
SETTLE_SECONDS = 0.05  # an editor writes a file in steps: wait until two looks agree
STATE_PATH = "/__deckgen/state"


# -- the cards folder ----------------------------------------------------------------------

Snapshot = dict[Path, tuple[int, int]]  # file -> (modification time in ns, size)


def snapshot(cards_dir: Path) -> Snapshot:
    """Every file under the cards folder that a build reads: card files, deck.yaml, media.

    Not the lock, which each build writes, nor hidden files and editors' backups.
    """
    files: Snapshot = {}
    for path in cards_dir.rglob("*"):
        relative = path.relative_to(cards_dir)
        if relative.as_posix() == LOCK_FILE or path.name.endswith(("~", ".swp", ".swx")):
            continue
        if any(part.startswith(".") for part in relative.parts):
            continue
        try:
            status = path.stat()
        except OSError:  # gone since rglob saw it
            continue
        if path.is_file():
            files[path] = (status.st_mtime_ns, status.st_size)
    return files


def changes(cards_dir: Path, interval: float = POLL_SECONDS) -> Iterator[tuple[Path, ...]]:
    """The files changed (added, edited, removed) under the cards folder, a batch per change."""
    seen = snapshot(cards_dir)
    while True:
        time.sleep(interval)
        now = snapshot(cards_dir)
        if now == seen:
            continue
        while True:
            time.sleep(SETTLE_SECONDS)
            again = snapshot(cards_dir)
            if again == now:
                break
            now = again
        changed = tuple(sorted(path for path in now.keys() | seen.keys() if now.get(path) != seen.get(path)))
        seen = now
        yield changed


# -- building ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildOutcome:
    """One build of the watch: what changed, and what the build and the preview gave."""

    changed: tuple[str, ...]  # files that changed (display paths); none for the first build
    seconds: float
    errors: tuple[Problem, ...] = ()  # bad input: nothing was written
    result: BuildResult | None = None
    preview: PreviewResult | None = None

    @property
    def warnings(self) -> list[Problem]:
        return (self.result.warnings if self.result else []) + (self.preview.warnings if self.preview else [])


@dataclass
class LiveState:
    """What the page asks the server for: the number of good builds, and the last errors."""

    builds: int = 0
    errors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def record(self, outcome: BuildOutcome) -> None:
        with self._lock:
            self.errors = tuple(str(problem) for problem in outcome.errors)
            if not outcome.errors:
                self.builds += 1

    def as_json(self) -> str:
        with self._lock:
            return json.dumps({"build": self.builds, "errors": list(self.errors)})


def build_once(cards_dir: Path, out_dir: Path, changed: tuple[Path, ...] = ()) -> BuildOutcome:
    """Build the packages and the preview; on bad input, the errors (and nothing written)."""
    start = time.monotonic()
    shown = tuple(display_path(path) for path in changed)
    try:
        result = build(cards_dir, out_dir)
        preview = write_preview(cards_dir, out_dir)
    except DeckError as error:
        return BuildOutcome(shown, time.monotonic() - start, tuple(error.problems))
    except OSError as error:  # a full disk, a folder made read-only: say so, keep watching
        problem = Problem(Location(display_path(Path(error.filename or out_dir))), file_trouble(error))
        return BuildOutcome(shown, time.monotonic() - start, (problem,))
    return BuildOutcome(shown, time.monotonic() - start, (), result, preview)


def watch_builds(cards_dir: Path, out_dir: Path, live: LiveState) -> Iterator[BuildOutcome]:
    """Build now, then after every change under the cards folder, for ever (until Ctrl-C)."""
    outcome = build_once(cards_dir, out_dir)
    live.record(outcome)
    yield outcome
    for changed in changes(cards_dir):
        outcome = build_once(cards_dir, out_dir, changed)
        live.record(outcome)
        yield outcome


# -- serving -------------------------------------------------------------------------------

_NONCE_RE = re.compile(r'<script nonce="([^"]+)"')

# Polls the state; reloads after a good build, shows the errors of a bad one.
_LIVE_JS = """(() => {
  const loaded = @BUILD@;
  let banner = null;
  const show = (errors) => {
    if (!errors.length) { if (banner) { banner.remove(); banner = null; } return; }
    if (!banner) {
      banner = document.createElement('pre');
      banner.id = 'deckgen-errors';
      Object.assign(banner.style, {position: 'fixed', top: '0', left: '0', right: '0', zIndex: '2147483647',
        margin: '0', padding: '0.8em 1em', maxHeight: '60vh', overflow: 'auto', whiteSpace: 'pre-wrap',
        background: '#b00020', color: '#fff', font: '13px/1.4 monospace'});
      document.documentElement.appendChild(banner);
    }
    banner.textContent = 'deckgen: the cards have errors; this page shows the last good build.\\n\\n'
      + errors.join('\\n');
  };
  const poll = async () => {
    try {
      const state = await (await fetch('@STATE@', {cache: 'no-store'})).json();
      if (state.build !== loaded && !state.errors.length) { location.reload(); return; }
      show(state.errors);
    } catch (error) { /* the watch stopped: keep the page as it is */ }
    setTimeout(poll, @INTERVAL@);
  };
  poll();
})();"""


def live_script(build_number: int) -> str:
    return (
        _LIVE_JS.replace("@BUILD@", str(build_number))
        .replace("@STATE@", STATE_PATH)
        .replace("@INTERVAL@", str(int(POLL_SECONDS * 1000)))
    )


def live_page(page: str, build_number: int) -> str:
    """The preview page as served in watch mode: its policy lets it ask this server for the
    state, and its live script runs under the page's own nonce."""
    match = _NONCE_RE.search(page)
    if match is None:
        raise ValueError("the preview page has no script nonce")
    page = page.replace("default-src 'none'", "default-src 'none'; connect-src 'self'", 1)
    script = f'<script nonce="{match.group(1)}">\n{live_script(build_number)}\n</script>\n'
    return page.replace("</head>", script + "</head>", 1)


def waiting_page(build_number: int) -> str:
    """What is served before the first good build: only the live script, which shows the errors."""
    nonce = "deckgen-watch"
    return live_page(
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{content_security_policy(nonce)}">\n'
        f'<title>deckgen preview</title>\n<script nonce="{nonce}"></script>\n</head>\n'
        "<body><p>No preview yet: the cards have errors.</p></body>\n</html>\n",
        build_number,
    )


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args, live: LiveState, folder: Path, **kwargs):
        self.live = live
        super().__init__(*args, directory=str(folder), **kwargs)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        if path == STATE_PATH:
            self._send(self.live.as_json(), "application/json")
        elif path in ("/", f"/{PAGE_FILE}"):
            page_file = Path(self.directory) / PAGE_FILE
            number = self.live.builds
            text = page_file.read_text(encoding="utf-8") if page_file.is_file() else None
            self._send(live_page(text, number) if text else waiting_page(number), "text/html; charset=utf-8")
        else:
            super().do_GET()

    def _send(self, text: str, content_type: str) -> None:
        body = text.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")  # media and MathJax too: always the newest
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's name)
        pass  # the terminal is for build results


class PreviewServer:
    """build/preview/ on http://127.0.0.1:PORT/ (a free port unless given), in a thread."""

    def __init__(self, out_dir: Path, port: int = 0) -> None:
        self.live = LiveState()
        folder = out_dir / PREVIEW_DIR
        folder.mkdir(parents=True, exist_ok=True)
        handler = functools.partial(_Handler, live=self.live, folder=folder)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def __enter__(self) -> PreviewServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
