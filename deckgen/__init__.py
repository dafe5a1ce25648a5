"""deckgen: compile flashcards written in YAML (Markdown in the fields) into Anki packages."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("deckgen")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
