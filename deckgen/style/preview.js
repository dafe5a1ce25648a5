// The preview page's two controls: the theme switch and the search box.
// Inline in the page and self-contained: it must run from file:// with no network.
(function () {
  "use strict";
  var root = document.documentElement;
  var system = window.matchMedia("(prefers-color-scheme: dark)");
  var button = document.getElementById("pv-theme");
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
    button.textContent = "Theme: " + theme;
  }

  var saved = store && store.getItem("deckgen-preview-theme");
  root.setAttribute("data-theme", order.indexOf(saved) >= 0 ? saved : "auto");
  applyTheme();
  button.addEventListener("click", function () {
    var next = order[(order.indexOf(root.getAttribute("data-theme")) + 1) % order.length];
    root.setAttribute("data-theme", next);
    if (store) {
      store.setItem("deckgen-preview-theme", next);
    }
    applyTheme();
  });
  // "auto" follows the system as it changes, not only at load.
  system.addEventListener("change", applyTheme);

  var search = document.getElementById("pv-search");
  var count = document.getElementById("pv-count");
  var empty = document.getElementById("pv-empty");
  var total = count.getAttribute("data-total");
  var cards = Array.prototype.slice.call(document.querySelectorAll(".pv-card"));
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
})();
