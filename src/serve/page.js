// relate's page script: remembers "more like this" / "less like this"
// choices in the browser and shows recommendations for them from
// /api/recommend. The page works without it, apart from recommendations.
"use strict";
(function () {
  var KEY = "relate.profile";

  function load() {
    try {
      var p = JSON.parse(localStorage.getItem(KEY) || "{}");
      return { like: p.like || [], unlike: p.unlike || [] };
    } catch (e) {
      return { like: [], unlike: [] };
    }
  }

  function save(p) {
    try { localStorage.setItem(KEY, JSON.stringify(p)); } catch (e) { /* private mode */ }
  }

  function without(list, id) {
    return list.filter(function (x) { return x !== id; });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function render(section, answer, profile) {
    var list = section.querySelector(".results");
    list.textContent = "";
    section.querySelector(".profile").textContent =
      "From " + profile.like.length + " paper(s) you want more of" +
      (profile.unlike.length ? " and " + profile.unlike.length + " you want less of" : "") + ".";
    answer.results.forEach(function (r) {
      var li = el("li");
      var a = el("a", "title", r.title);
      a.href = "/paper/" + encodeURIComponent(r.id);
      li.appendChild(a);
      var meta = el("div", "meta");
      meta.appendChild(el("span", "score", r.score.toFixed(3)));
      if (r.topic) meta.appendChild(el("span", "topic", r.topic.label));
      if (r.date) meta.appendChild(el("span", "date", r.date));
      meta.appendChild(el("span", "id", r.id));
      if (r.copies && r.copies.length) {
        var also = el("span", "copies", "also " + r.copies.join(", "));
        also.title = "the same paper under other ids";
        meta.appendChild(also);
      }
      li.appendChild(meta);
      var because = r.because && r.because.positives.length
        ? "like " + r.because.positives.map(function (p) { return p.title; }).join("; ")
        : "";
      if (r.because && r.because.terms.length) {
        because += (because ? " · " : "") + "shares " + r.because.terms.join(", ");
      }
      li.appendChild(el("div", "reason", because));
      list.appendChild(li);
    });
    section.hidden = false;
  }

  function refresh() {
    var section = document.getElementById("recommended");
    if (!section) return;
    var profile = load();
    if (!profile.like.length) {
      section.hidden = true;
      return;
    }
    fetch("/api/recommend", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ like: profile.like, unlike: profile.unlike, k: 10 })
    })
      .then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); })
      .then(function (res) {
        if (res[0]) {
          render(section, res[1], profile);
        } else {
          section.querySelector(".profile").textContent = res[1].error.message;
          section.hidden = false;
        }
      })
      .catch(function () { /* the server is away; keep the page as it is */ });
  }

  function mark(article, profile) {
    var id = article.dataset.id;
    article.querySelector(".like").classList.toggle("chosen", profile.like.indexOf(id) >= 0);
    article.querySelector(".unlike").classList.toggle("chosen", profile.unlike.indexOf(id) >= 0);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var article = document.querySelector("article.paper");
    if (article) {
      var id = article.dataset.id;
      mark(article, load());
      article.querySelector(".like").addEventListener("click", function () {
        var p = load();
        p.unlike = without(p.unlike, id);
        p.like = without(p.like, id).concat([id]);
        save(p); mark(article, p); refresh();
      });
      article.querySelector(".unlike").addEventListener("click", function () {
        var p = load();
        p.like = without(p.like, id);
        p.unlike = without(p.unlike, id).concat([id]);
        save(p); mark(article, p); refresh();
      });
      article.querySelector(".clear").addEventListener("click", function () {
        save({ like: [], unlike: [] }); mark(article, load()); refresh();
      });
    }
    refresh();
  });
})();
