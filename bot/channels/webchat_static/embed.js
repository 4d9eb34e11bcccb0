// Embed Tanya's web chat in any web page:
//   <script src="https://YOUR-BOT-HOST/chat/embed.js" async></script>
// Adds a chat button in the bottom-right corner that opens the chat in a frame.
(function () {
  "use strict";
  var script = document.currentScript;
  var origin = new URL(script ? script.src : "/chat/embed.js", location.href).origin;
  var open = false;
  var frame = document.createElement("iframe");
  frame.src = origin + "/chat";
  frame.title = "Tanya";
  frame.style.cssText = "position:fixed;right:16px;bottom:84px;width:360px;max-width:calc(100vw - 32px);" +
    "height:520px;max-height:calc(100vh - 110px);border:1px solid #ccc;border-radius:12px;" +
    "box-shadow:0 4px 24px rgba(0,0,0,.2);background:#fff;display:none;z-index:2147483646";
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = "Tanya";
  button.setAttribute("aria-label", "Tanya: chat");
  button.style.cssText = "position:fixed;right:16px;bottom:16px;height:56px;min-width:56px;" +
    "padding:0 18px;border:0;border-radius:28px;background:#0b5394;color:#fff;font:600 16px " +
    "system-ui,sans-serif;cursor:pointer;box-shadow:0 2px 12px rgba(0,0,0,.25);z-index:2147483647";
  button.addEventListener("click", function () {
    open = !open;
    frame.style.display = open ? "block" : "none";
  });
  document.body.appendChild(frame);
  document.body.appendChild(button);
})();
