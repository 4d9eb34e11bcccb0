// Tanya web chat. Plain DOM, no framework and no third-party code; every text the
// server sends is inserted as text (never as HTML), with links and *bold* made safely.
(function () {
  "use strict";
  var UI = {
    id: { subtitle: "Layanan informasi pemerintah kota", placeholder: "Tulis pertanyaan Anda…",
          send: "Kirim", other: "English", error: "Pesan gagal terkirim. Coba lagi." },
    en: { subtitle: "City government information service", placeholder: "Type your question…",
          send: "Send", other: "Bahasa Indonesia", error: "Could not send. Please try again." }
  };
  // In a frame on another site a browser may refuse storage altogether (reading it
  // throws): the chat then works without remembering the language choice.
  var storage = {
    get: function (key) { try { return window.localStorage.getItem(key); } catch (e) { return null; } },
    set: function (key, value) { try { window.localStorage.setItem(key, value); } catch (e) { /* */ } }
  };
  // The session this page speaks for, sent with every request (see webchat.py).
  var sessionTag = document.querySelector('meta[name="tanya-session"]');
  var session = sessionTag ? sessionTag.getAttribute("content") : "";
  // The citizen's own choice first, then the conversation's language (from the server),
  // then the government's default: not the browser's, which is often English on phones
  // of Indonesian speakers.
  var chosen = storage.get("tanya-language");
  var language = chosen === "en" || chosen === "id" ? chosen : "id";
  var log = document.getElementById("log");
  var input = document.getElementById("text");
  var form = document.getElementById("form");

  function applyLanguage() {
    var t = UI[language];
    document.documentElement.lang = language;
    document.getElementById("subtitle").textContent = t.subtitle;
    input.placeholder = t.placeholder;
    document.getElementById("send").textContent = t.send;
    document.getElementById("language").textContent = t.other;
  }

  function newId() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // Text with URLs as links and *bold* / _italic_ as emphasis, built node by node.
  function richText(parent, text) {
    var pattern = /(https?:\/\/[^\s)]+)|\*([^*\n]+)\*|_([^_\n]+)_/g;
    var last = 0, match;
    while ((match = pattern.exec(text)) !== null) {
      parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      var node;
      if (match[1]) {
        node = document.createElement("a");
        node.href = match[1];
        node.rel = "noopener noreferrer";
        node.target = "_blank";
        node.textContent = match[1];
      } else {
        node = document.createElement(match[2] ? "strong" : "em");
        node.textContent = match[2] || match[3];
      }
      parent.appendChild(node);
      last = pattern.lastIndex;
    }
    parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function show(from, text, buttons) {
    var bubble = document.createElement("div");
    bubble.className = "msg " + from;
    richText(bubble, text);
    if (buttons && buttons.length) {
      var row = document.createElement("div");
      row.className = "buttons";
      buttons.forEach(function (b) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = b.label;
        button.addEventListener("click", function () {
          Array.prototype.forEach.call(row.children, function (c) { c.disabled = true; });
          show("citizen", b.label);
          post({ payload: b.payload });
        });
        row.appendChild(button);
      });
      bubble.appendChild(row);
    }
    log.appendChild(bubble);
    log.scrollTop = log.scrollHeight;
  }

  function showError() {
    var note = document.createElement("div");
    note.className = "error";
    note.textContent = UI[language].error;
    log.appendChild(note);
  }

  function headers(extra) {
    var all = extra || {};
    if (session) { all["X-Tanya-Session"] = session; }
    return all;
  }

  function post(body) {
    body.id = body.id || newId();
    if (chosen) { body.language = language; }
    return fetch("/chat/api/messages", {
      method: "POST", credentials: "same-origin",
      headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify(body)
    }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    }).then(function (data) {
      data.replies.forEach(function (r) { show("bot", r.text, r.buttons); });
    }).catch(showError);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    show("citizen", text);
    post({ text: text });
  });

  document.getElementById("language").addEventListener("click", function () {
    language = language === "id" ? "en" : "id";
    chosen = language;
    storage.set("tanya-language", language);
    applyLanguage();
    post({ text: "/bahasa " + language });
  });

  // Officials' answers and announcements arrive without a question of the citizen's:
  // ask for them every few seconds while the page is open, and at once when it is
  // looked at again. The cursor is the last stored message already on the page.
  var POLL_SECONDS = 8;
  var cursor = null, polling = false, timer = null;

  function poll() {
    if (cursor === null || polling || document.hidden) { return; }
    polling = true;
    fetch("/chat/api/updates?after=" + encodeURIComponent(cursor),
          { credentials: "same-origin", headers: headers() })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (data) {
        data.messages.forEach(function (m) { show(m.from, m.text, m.buttons); });
        cursor = data.cursor;
      })
      .catch(function () { /* offline for a moment: the next poll tries again */ })
      .then(function () { polling = false; });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(function () { poll(); schedule(); }, POLL_SECONDS * 1000);
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { poll(); }
  });

  applyLanguage();
  fetch("/chat/api/history", { credentials: "same-origin", headers: headers() })
    .then(function (r) { return r.json(); })
    .then(function (data) {
      if (!chosen && (data.language === "en" || data.language === "id")) {
        language = data.language;
        applyLanguage();
      }
      data.messages.forEach(function (m) { show(m.from, m.text, m.buttons); });
      cursor = data.cursor || 0;
      schedule();
      if (!data.messages.length) {
        // A campaign link (/chat?ref=<campaign>) is noted with the first message.
        var ref = (new URLSearchParams(window.location.search).get("ref") || "")
          .toLowerCase().replace(/[^a-z0-9-]/g, "").slice(0, 60);
        post({ text: ref ? "/start " + ref : "/start" });
      }
    }).catch(showError);
})();
