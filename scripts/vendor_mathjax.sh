#!/usr/bin/env bash
# Refresh deckgen's copy of MathJax, the preview's math renderer (deckgen/vendor/mathjax/).
#
#   scripts/vendor_mathjax.sh            # the pinned version below, again
#   scripts/vendor_mathjax.sh 3.2.3      # another exact version (then update VERSION here)
#
# Takes one file from npm's `mathjax` package: es5/tex-svg-full.js, the combined
# component with every TeX package Anki turns on (noerrors, mathtools, mhchem) built in,
# so the page never loads a second script, and SVG output, which needs no font files.
# Copies it with MathJax's LICENSE and writes the README that records version and checksum.
# Needs npm (registry access) and tar; changes nothing else.
set -euo pipefail

VERSION="${1:-3.2.2}"
BUNDLE="es5/tex-svg-full.js"

if [[ ! "$VERSION" =~ ^3\.[0-9]+\.[0-9]+$ ]]; then
  echo "vendor_mathjax.sh: give an exact MathJax 3 version such as 3.2.2, not '$VERSION'" >&2
  exit 2
fi

cd "$(dirname "$0")/.."
dest="deckgen/vendor/mathjax"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# npm pack checks the tarball against the registry's integrity hash before saving it.
tarball="$(cd "$work" && npm pack --silent "mathjax@$VERSION")"
tar -xzf "$work/$tarball" -C "$work" package/package.json package/LICENSE "package/$BUNDLE"
packed="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$work/package/package.json" | head -n 1)"
if [[ "$packed" != "$VERSION" ]]; then
  echo "vendor_mathjax.sh: npm gave mathjax $packed, not $VERSION" >&2
  exit 1
fi

mkdir -p "$dest"
cp "$work/package/$BUNDLE" "$dest/tex-svg-full.js"
cp "$work/package/LICENSE" "$dest/LICENSE"
sum="$(sha256sum "$dest/tex-svg-full.js" | cut -d' ' -f1)"
cat >"$dest/README.md" <<EOF
# MathJax $VERSION (vendored)

\`tex-svg-full.js\` is \`$BUNDLE\` from the npm package [mathjax@$VERSION](https://www.npmjs.com/package/mathjax/v/$VERSION)
(\`npm pack mathjax@$VERSION\`), unchanged; sha256 \`$sum\`.
\`LICENSE\` is MathJax's own (Apache License 2.0).

\`deckgen preview\` copies it beside \`index.html\` so that \`\\(...\\)\` and \`\\[...\\]\` render
offline with MathJax 3, as in Anki. It is the combined component with every TeX package
built in (Anki turns on noerrors, mathtools and mhchem), so the page loads no other
script; SVG output needs no font files.

To refresh it, or move to another exact 3.x version: \`scripts/vendor_mathjax.sh [VERSION]\`,
which rewrites this folder (this README included).
EOF
echo "MathJax $VERSION -> $dest/tex-svg-full.js (sha256 $sum)"
