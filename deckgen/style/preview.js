// The preview page's script: the theme switch, the search box, and MathJax's settings.
// Inline in the page's <head>, before any card, and self-contained: it must run from
// file:// with no network, under the page's Content-Security-Policy (preview.py), which
// lets only this script and MathJax's file (tex-svg-full.js, beside the page) run.
(function () {
  "use strict";
  // The page's nonce: what the policy asks of every script and <style> it lets in.
  var nonce = document.currentScript.nonce;
  // MathJax adds <style> elements as it goes (its own CSS and its menu's). Every <style>
  // a script here makes carries the nonce; only the page's own scripts can run, so no
  // field ever gets it.
  var createElement = document.createElement;
  document.createElement = function (name) {
    var made = createElement.apply(document, arguments);
    if (String(name).toLowerCase() === "style") {
      made.nonce = nonce;
    }
    return made;
  };
  var root = document.documentElement;
  var system = window.matchMedia("(prefers-color-scheme: dark)");
  var order = ["auto", "light", "dark"];
  var store = null;
  try {
    store = window.localStorage;
  } catch (error) {
    // Some browsers refuse storage to file:// pages; the choice then lasts one visit.
  }

  function applyTheme() {
    var theme = root.getAttribute("data-theme");
    var dark = theme === "dark" || (theme === "auto" && system.matches);
    if (dark) {
      root.setAttribute("data-dark", "");
    } else {
      root.removeAttribute("data-dark");
    }
    // As Anki desktop and AnkiDroid do: both class names on the card's body.
    var cards = document.querySelectorAll(".card");
    for (var i = 0; i < cards.length; i++) {
      cards[i].classList.toggle("night_mode", dark);
      cards[i].classList.toggle("nightMode", dark);
    }
    var button = document.getElementById("pv-theme");
    if (button) {
      button.textContent = "Theme: " + theme;
    }
  }

  var saved = store && store.getItem("deckgen-preview-theme");
  root.setAttribute("data-theme", order.indexOf(saved) >= 0 ? saved : "auto");
  // The page's own colours now, before the cards arrive; the cards' once they are parsed.
  applyTheme();
  // "auto" follows the system as it changes, not only at load.
  system.addEventListener("change", applyTheme);

  // Math as Anki shows it: MathJax 3 with Anki's settings (ts/mathjax in Anki's source):
  // \(...\) inline and \[...\] display, no $ and no bare \begin{...}, and the TeX packages
  // Anki adds. tex-svg-full.js has every package built in, so MathJax loads nothing more
  // (the policy would refuse it), and draws SVG, which needs no font files.
  window.MathJax = {
    tex: {
      inlineMath: [["\\(", "\\)"]],
      displayMath: [["\\[", "\\]"]],
      processEscapes: false,
      processEnvironments: false,
      processRefs: false,
      packages: { "[+]": ["noerrors", "mathtools", "mhchem"], "[-]": ["textmacros"] },
    },
    options: {
      enableMenu: false,
      renderActions: { addMenu: [], checkLoading: [] },
    },
    startup: {
      typeset: false,
      pageReady: function () {
        // MathJax can get here before DOMContentLoaded; the search must read the cards first.
        setUpControls();
        // The cards only: the page's header and deck names are not what Anki would typeset.
        return window.MathJax.typesetPromise(Array.prototype.slice.call(document.querySelectorAll(".card")));
      },
    },
  };

  var controlsSetUp = false;
  function setUpControls() {
    if (controlsSetUp) {
      return;
    }
    controlsSetUp = true;
    applyTheme();
    var button = document.getElementById("pv-theme");
    button.addEventListener("click", function () {
      var next = order[(order.indexOf(root.getAttribute("data-theme")) + 1) % order.length];
      root.setAttribute("data-theme", next);
      if (store) {
        store.setItem("deckgen-preview-theme", next);
      }
      applyTheme();
    });

    var search = document.getElementById("pv-search");
    var count = document.getElementById("pv-count");
    var empty = document.getElementById("pv-empty");
    var total = count.getAttribute("data-total");
    var cards = Array.prototype.slice.call(document.querySelectorAll(".pv-card"));
    // The text as written, math included as TeX: read before MathJax draws it.
    var texts = cards.map(function (card) {
      return card.textContent.toLowerCase();
    });
    var initialCount = count.textContent;

    function applySearch() {
      var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      cards.forEach(function (card, index) {
        var match = words.every(function (word) {
          return texts[index].indexOf(word) >= 0;
        });
        card.hidden = !match;
        if (match) shown++;
      });
      document.querySelectorAll(".pv-deck").forEach(function (deck) {
        deck.hidden = !deck.querySelector(".pv-card:not([hidden])");
      });
      empty.hidden = shown > 0;
      count.textContent = words.length ? shown + " of " + total + " cards" : initialCount;
    }
    search.addEventListener("input", applySearch);
  }
  // Whichever comes first: the cards parsed, or MathJax about to draw (see pageReady).
  document.addEventListener("DOMContentLoaded", setUpControls);
})();
