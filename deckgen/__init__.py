"""deckgen: compile flashcards written in YAML (Markdown in the fields) into Anki packages."""

# The one place the version is written: pyproject.toml reads it from here.
__version__ = "0.1.0"
