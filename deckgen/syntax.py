"""Beside step 1 of the pipeline (load): YAML syntax errors in the card author's words.

PyYAML says where it gave up ("mapping values are not allowed here", "did not find
expected key") but not what the author did. The common mistakes in card files are few:
`: ` inside an unquoted value, a key or list item out of line with its siblings, an
unclosed quote or bracket, text after a closing quote, and a value starting with a
character YAML reserves (`{{c1::...}}`, `[`, `*`, `@`). `explain` looks at the error's
marks and at the lines of the file, names the mistake and shows the fix; anything it does
not recognise keeps PyYAML's own words. Both loaders (C and pure Python) word their
errors differently, so the choice rests on marks and text more than on messages.
"""

from __future__ import annotations

import re

import yaml

# A line holding a simple key, as card files write them: indentation, any "- " list
# markers, the key, then ':' followed by a space or the end of the line.
_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<dashes>(?:- +)*)(?P<key>[A-Za-z_][\w.-]*) *:(?= |$)")
_ALIAS = "a value starting with '*' is read by YAML as an alias (*name), not text"
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x85\u2028\u2029]")  # what PyYAML counts as a new line


def explain(exc: yaml.MarkedYAMLError, text: str, loader: type) -> tuple[int, int, str]:
    """(line, column) counting from 0, and a message, for a YAML error in `text`."""
    try:
        return _explain(exc, text, loader)
    except (IndexError, ValueError):  # marks past the text's end: keep PyYAML's words
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line, mark.column) if mark else (0, 0)
        return line, column, f"YAML syntax error: {_pyyaml_words(exc)}"


def _explain(exc: yaml.MarkedYAMLError, text: str, loader: type) -> tuple[int, int, str]:
    lines = _LINE_BREAK.split(text)
    problem = exc.problem or ""
    context = exc.context or ""
    mark = exc.problem_mark or exc.context_mark
    explained = None
    if mark is None:
        return 0, 0, f"YAML syntax error: {_pyyaml_words(exc)}"
    if problem.startswith("mapping values are not allowed"):
        explained = _colon(lines, mark.line, mark.column)
    elif context.startswith(
        ("while scanning a quoted", "while scanning a double-quoted", "while parsing a quoted")
    ):
        explained = _quoted(lines, exc)
    elif context.startswith("while parsing a flow") and exc.context_mark:
        explained = _unclosed_bracket(lines, exc.context_mark, mark)
    elif context.startswith("while parsing a block") or "document start" in problem:
        explained = _out_of_line(lines, text, loader, mark)
    elif "another document" in problem:
        explained = (
            mark.line,
            mark.column,
            "a second YAML document starts here; a card file holds one: remove this '---' "
            "(or move what follows into another file)",
        )
    elif "cannot start any token" in problem:
        explained = _reserved_start(lines, mark)
    elif "undefined alias" in problem:
        explained = _value_fix(lines, mark, _ALIAS)
    elif context.startswith("while scanning an alias") and exc.context_mark:
        explained = _value_fix(lines, exc.context_mark, _ALIAS)
    elif context.startswith("while scanning a block scalar"):
        explained = (
            mark.line,
            mark.column,
            "after '|' or '>' only '-', '+' or an indentation digit may follow on the same line; "
            "start the text on the next line, indented",
        )
    elif context.startswith("while scanning a simple key") and exc.context_mark:
        line = exc.context_mark.line
        explained = _no_space_after_colon(lines, line) or _not_a_key(lines, line)
    elif "sequence entries are not allowed" in problem:
        explained = _dash_in_value(lines, mark)
    if explained is not None:
        return explained
    return mark.line, mark.column, f"YAML syntax error: {_pyyaml_words(exc)}"


def braces_message(key: str, value: str) -> str:
    """For `text: {{c1::...}}`: YAML reads a value starting with '{' as a mapping."""
    return (
        "a value starting with '{{' is read by YAML as a mapping, not text; quote it: "
        f"{key}: {quote(value)} (or write it on the next line after '{key}: >-')"
    )


def quote(value: str) -> str:
    """The value as YAML text in quotes: double quotes unless it holds '"' or '\\'."""
    if '"' not in value and "\\" not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "''") + "'"


# -- one function per mistake; each returns (line, column, message) or None ----------


def _colon(lines: list[str], line: int, column: int) -> tuple[int, int, str] | None:
    """`mapping values are not allowed`: ': ' in an unquoted value, or a key too far in."""
    text = lines[line]
    if _no_space_after_dash(text):
        return _dash_message(text, line)
    own = _KEY_LINE.match(text)
    if own and own.end("key") <= column and text.index(":", own.end("key")) == column:
        # The line is a key of its own, but YAML took it as more of the value above.
        above = _previous_line(lines, line, lambda _text: True)
        if above is not None and _no_space_after_dash(lines[above]):
            return _dash_message(lines[above], above)
        sibling = _previous_key_line(lines, line, lambda found: found < _key_column(own))
        where = (line, _key_column(own))
        if sibling is None:
            return (*where, f"'{own['key']}' is indented more than the keys before it; line it up with them")
        number, match = sibling
        return (
            *where,
            f"'{own['key']}' is indented more than '{match['key']}' on line {number + 1}, so YAML reads it "
            f"as more of that value; start it in column {_key_column(match) + 1}, like '{match['key']}'",
        )
    owner = _value_owner(lines, line, column)
    if owner is None:
        return line, column, "': ' inside a value makes YAML read a new key; put the value in quotes"
    key, value = owner
    return (
        line,
        column,
        f"': ' inside the value of '{key}' makes YAML read a new key; put the value in quotes: "
        f"{key}: {quote(value)}",
    )


def _quoted(lines: list[str], exc: yaml.MarkedYAMLError) -> tuple[int, int, str] | None:
    problem = exc.problem or ""
    opened = exc.context_mark
    if opened is None or exc.problem_mark is None:
        return None
    quote_char = lines[opened.line][opened.column : opened.column + 1] or '"'
    if "escape" in problem or "hex" in problem:
        return _unknown_escape(lines, opened, exc.problem_mark, hexadecimal="hex" in problem)
    if "end of stream" in problem or "document" in problem:
        return (
            opened.line,
            opened.column,
            f"the {quote_char} opened here is never closed; end the value with {quote_char}",
        )
    return None


def _unknown_escape(
    lines: list[str], opened: yaml.Mark, mark: yaml.Mark, hexadecimal: bool
) -> tuple[int, int, str]:
    """A backslash in double quotes; the loaders point at it or just after it."""
    text = lines[mark.line]
    column = max(text.rfind("\\", 0, mark.column + 1), 0)
    escape = text[column : column + 2]
    if hexadecimal:
        what = f"'{escape}' inside double quotes must be followed by hexadecimal digits"
    else:
        what = f"'{escape}' is not an escape YAML knows inside double quotes"
    message = (
        f"{what}; write the value in single quotes ('\\' is plain text there), "
        "or write each backslash as '\\\\'"
    )
    owner = _value_owner(lines, opened.line, opened.column)
    rest = lines[opened.line][opened.column :].rstrip()
    if owner is not None and opened.line == mark.line and len(rest) > 1 and rest.endswith('"'):
        message += f": {owner[0]}: '{rest[1:-1].replace(chr(39), chr(39) * 2)}'"
    return mark.line, column, message


def _unclosed_bracket(lines: list[str], opened: yaml.Mark, mark: yaml.Mark) -> tuple[int, int, str]:
    rest = lines[opened.line][opened.column :]
    if rest.startswith("{{"):
        owner = _value_owner(lines, opened.line, opened.column)
        key = owner[0] if owner else "text"
        return opened.line, opened.column, braces_message(key, rest.rstrip())
    bracket = rest[:1]
    close = "]" if bracket == "[" else "}"
    kind = "list" if bracket == "[" else "mapping"
    if mark.line > opened.line:
        return (
            opened.line,
            opened.column,
            f"the {bracket} opened here is not closed on its line; end the {kind} with {close} "
            f"(or quote the value if it is text)",
        )
    return (
        mark.line,
        mark.column,
        f"unexpected text in the {kind} opened with {bracket} at column {opened.column + 1}; "
        f"separate items with ', ', end with {close}, and quote items holding ': ' or ','",
    )


def _out_of_line(lines: list[str], text: str, loader: type, mark: yaml.Mark) -> tuple[int, int, str] | None:
    """A block ended where YAML did not expect it: an indentation slip, or text after a value."""
    line_text = lines[mark.line]
    first = len(line_text) - len(line_text.lstrip(" "))
    if mark.column > first:
        return _text_after_value(lines, text, loader, mark)
    rest = line_text[first:]
    if rest == "-" or rest.startswith("- "):
        sibling = _previous_line(lines, mark.line, _is_list_item)
        if sibling is None:
            return mark.line, first, "a list item ('- ') where a key was expected; indent it under its key"
        other = len(lines[sibling]) - len(lines[sibling].lstrip(" "))
        return (
            mark.line,
            first,
            f"this list item (column {first + 1}) does not line up with the one on line {sibling + 1} "
            f"(column {other + 1}); items of one list start in the same column",
        )
    own = _KEY_LINE.match(line_text)
    if own is None:
        return _not_a_key(lines, mark.line)
    sibling_key = _previous_key_line(lines, mark.line, lambda found: True)
    if sibling_key is None:
        return None
    number, match = sibling_key
    return (
        mark.line,
        _key_column(own),
        f"'{own['key']}' (column {_key_column(own) + 1}) does not line up with '{match['key']}' "
        f"on line {number + 1} (column {_key_column(match) + 1}); "
        "keys of one mapping start in the same column",
    )


def _not_a_key(lines: list[str], line: int) -> tuple[int, int, str]:
    """A line of text where a key or list item must be: most often a value's next line."""
    text = lines[line]
    column = len(text) - len(text.lstrip(" "))
    message = "this line is neither a key ('key: value') nor a list item ('- ')"
    above = _previous_key_line(lines, line, lambda found: True)
    if above is not None and lines[above[0]][above[1].end() :].strip():
        number, match = above
        message += (
            f"; if it continues the value of '{match['key']}' on line {number + 1}, "
            f"indent it further than '{match['key']}' (column {_key_column(match) + 1})"
        )
    return line, column, message


def _text_after_value(
    lines: list[str], text: str, loader: type, mark: yaml.Mark
) -> tuple[int, int, str] | None:
    """More text after a value that ended: a closing quote or bracket before the line's end."""
    value = _last_value_before(text, loader, mark)
    if value is None:
        return None
    start, end, kind = value
    if kind in ('"', "'") and start.line != end.line:
        return (
            start.line,
            start.column,
            f"the {kind} opened here is not closed on its line: YAML reads on to the {kind} "
            f"on line {end.line + 1}, column {end.column}; end the value with {kind}",
        )
    rest = lines[start.line][start.column :].rstrip()
    owner = _value_owner(lines, start.line, start.column)
    key = owner[0] if owner else None
    if kind == "'":
        inner = rest[1:-1] if len(rest) > 1 and rest.endswith("'") else rest[1:]
        fix = f": {key}: '{inner.replace(chr(39), chr(39) * 2)}'" if key else ""
        return (
            start.line,
            start.column,
            f"the value ends at the ' in column {end.column}, but more text follows; "
            f"inside single quotes write an apostrophe as ''{fix}",
        )
    fix = f": {key}: {quote(rest)}" if key else ""
    if kind == '"':
        return (
            start.line,
            start.column,
            f'the value ends at the closing " in column {end.column}, but more text follows; '
            f"quote the whole value{fix}",
        )
    if kind == "{" and key and rest.startswith("{{"):
        return start.line, start.column, braces_message(key, rest)
    if kind == "*":
        return (
            start.line,
            start.column,
            f"{_ALIAS}; quote it{fix}" if fix else f"{_ALIAS}; put the value in quotes",
        )
    if kind in ("[", "{"):
        what = "a list" if kind == "[" else "a mapping"
        return (
            start.line,
            start.column,
            f"a value starting with '{kind}' is read by YAML as {what}, not text; quote it{fix}",
        )
    return None


def _dash_in_value(lines: list[str], mark: yaml.Mark) -> tuple[int, int, str] | None:
    own = _KEY_LINE.match(lines[mark.line])
    if own is None or own.end() > mark.column:
        return None
    return _value_fix(lines, mark, "a value starting with '- ' is read by YAML as a list, not text")


def _reserved_start(lines: list[str], mark: yaml.Mark) -> tuple[int, int, str] | None:
    character = lines[mark.line][mark.column : mark.column + 1]
    if character not in ("@", "`"):
        return None
    return _value_fix(lines, mark, f"a value cannot start with '{character}' in YAML (it is reserved)")


def _value_fix(lines: list[str], mark: yaml.Mark, what: str) -> tuple[int, int, str]:
    owner = _value_owner(lines, mark.line, mark.column)
    if owner is None:
        return mark.line, mark.column, f"{what}; put the value in quotes"
    key, _value = owner
    value = lines[mark.line][mark.column :].rstrip()
    return mark.line, mark.column, f"{what}; quote it: {key}: {quote(value)}"


def _no_space_after_colon(lines: list[str], line: int) -> tuple[int, int, str] | None:
    found = re.match(r"^( *(?:- +)*)([A-Za-z_][\w.-]*):(\S.*)$", lines[line])
    if found is None:
        return None
    key, value = found.group(2), found.group(3).rstrip()
    return (
        line,
        len(found.group(1)),
        f"'{key}:' needs a space after the colon; write '{key}: {value}'",
    )


def _no_space_after_dash(text: str) -> re.Match | None:
    return re.match(r"^( *)-(?=[A-Za-z_])", text)


def _dash_message(text: str, line: int) -> tuple[int, int, str]:
    column = len(text) - len(text.lstrip(" "))
    return line, column, f"a list item needs a space after '-': write '- {text[column + 1 :].strip()}'"


# -- reading the lines ---------------------------------------------------------------


def _is_list_item(line: str) -> bool:
    rest = line.lstrip(" ")
    return rest == "-" or rest.startswith("- ")


def _key_column(match: re.Match) -> int:
    return match.end("dashes")


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _previous_line(lines: list[str], line: int, wanted) -> int | None:
    for number in range(line - 1, -1, -1):
        if _is_content(lines[number]) and wanted(lines[number]):
            return number
    return None


def _previous_key_line(lines: list[str], line: int, column_wanted) -> tuple[int, re.Match] | None:
    """The nearest line above with a key whose column `column_wanted` accepts."""
    for number in range(line - 1, -1, -1):
        match = _KEY_LINE.match(lines[number])
        if match and column_wanted(_key_column(match)):
            return number, match
    return None


def _value_owner(lines: list[str], line: int, column: int) -> tuple[str, str] | None:
    """The key whose plain value holds (line, column), and that value as one line."""
    own = _KEY_LINE.match(lines[line])
    if own and own.end() <= column:
        return own["key"], lines[line][own.end() :].strip()
    indent = len(lines[line]) - len(lines[line].lstrip(" "))
    parts = [lines[line].strip()]
    for number in range(line - 1, -1, -1):
        match = _KEY_LINE.match(lines[number])
        if match and _key_column(match) < indent:
            parts.append(lines[number][match.end() :].strip())
            return match["key"], " ".join(part for part in reversed(parts) if part)
        if _is_content(lines[number]):
            parts.append(lines[number].strip())
    return None


def _last_value_before(text: str, loader: type, mark: yaml.Mark) -> tuple[yaml.Mark, yaml.Mark, str] | None:
    """The last complete value before `mark`: its start, its end, and its quote or bracket."""
    scanner = loader(text)
    opened: list[yaml.Token] = []
    last = None
    try:
        while scanner.check_token():
            token = scanner.get_token()
            if (token.start_mark.line, token.start_mark.column) >= (mark.line, mark.column):
                break
            if isinstance(token, (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken)):
                opened.append(token)
            elif isinstance(token, (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken)):
                start = opened.pop() if opened else token
                if not opened:
                    bracket = "[" if isinstance(start, yaml.FlowSequenceStartToken) else "{"
                    last = (start.start_mark, token.end_mark, bracket)
            elif isinstance(token, yaml.ScalarToken) and not opened:
                last = (token.start_mark, token.end_mark, token.style or "")
            elif isinstance(token, yaml.AliasToken) and not opened:
                last = (token.start_mark, token.end_mark, "*")
    except yaml.YAMLError:
        pass  # the scanner may fail further on; what came before is enough
    finally:
        scanner.dispose()
    return last


def _pyyaml_words(exc: yaml.MarkedYAMLError) -> str:
    context = exc.context
    if context and exc.context_mark and exc.problem_mark and exc.context_mark.line != exc.problem_mark.line:
        mark = exc.context_mark
        context += f" (from line {mark.line + 1}, column {mark.column + 1})"
    parts = [p for p in (context, exc.problem) if p]
    return "; ".join(parts) if parts else str(exc).splitlines()[0]
