// Shared by Walkout's pages: the bearer token and calls to the API.
//
// The token arrives in the URL fragment (#token=...), which browsers never send to a
// server, or through the paste box. It is kept in sessionStorage (gone when the tab
// closes) and the fragment is removed from the address bar at once.
"use strict";

(function (global) {
  const STORAGE_KEY = "walkout.token";

  function apiBase() {
    // The pages live at <base>/app/...; the API's routes at <base>/...
    const path = global.location.pathname;
    const at = path.indexOf("/app/");
    return at > 0 ? path.slice(0, at) : "";
  }

  function tokenFromFragment() {
    const fragment = global.location.hash.replace(/^#/, "");
    if (!fragment) {
      return null;
    }
    const params = new URLSearchParams(fragment);
    const token = params.get("token");
    if (token) {
      params.delete("token");
      const rest = params.toString();
      const url = global.location.pathname + global.location.search + (rest ? "#" + rest : "");
      global.history.replaceState(null, "", url);
    }
    return token;
  }

  function looksLikeJwt(token) {
    return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
  }

  const token = {
    load() {
      const fromUrl = tokenFromFragment();
      if (fromUrl && looksLikeJwt(fromUrl.trim())) {
        global.sessionStorage.setItem(STORAGE_KEY, fromUrl.trim());
      }
      return global.sessionStorage.getItem(STORAGE_KEY);
    },
    save(value) {
      const trimmed = String(value || "").trim().replace(/^Bearer\s+/i, "");
      if (!looksLikeJwt(trimmed)) {
        throw new Error("That is not a token (expected three dot-separated parts).");
      }
      global.sessionStorage.setItem(STORAGE_KEY, trimmed);
      return trimmed;
    },
    forget() {
      global.sessionStorage.removeItem(STORAGE_KEY);
    },
    get() {
      return global.sessionStorage.getItem(STORAGE_KEY);
    },
  };

  class ApiError extends Error {
    constructor(status, title, detail) {
      super(detail || title || "HTTP " + status);
      this.status = status;
      this.title = title;
    }
  }

  // A JSON call to the API; resolves to {status, body}; rejects with ApiError carrying the
  // problem document's detail for 4xx/5xx.
  async function call(method, path, body) {
    const headers = { Accept: "application/json" };
    const bearer = token.get();
    if (bearer) {
      headers.Authorization = "Bearer " + bearer;
    }
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await global.fetch(apiBase() + path, init);
    const text = await response.text();
    let parsed = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch (_) {
        parsed = null;
      }
    }
    if (!response.ok) {
      const title = parsed && parsed.title ? parsed.title : response.statusText;
      const detail = parsed && parsed.detail ? parsed.detail : "HTTP " + response.status;
      throw new ApiError(response.status, title, detail);
    }
    return { status: response.status, body: parsed };
  }

  // Wire a token form: <form id="token-form"> with an input named "token".
  function bindTokenForm(form, onSaved) {
    const input = form.querySelector("input[name=token], textarea[name=token]");
    const message = form.querySelector(".token-message");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      try {
        token.save(input.value);
        input.value = "";
        if (message) {
          message.textContent = "";
        }
        onSaved();
      } catch (error) {
        if (message) {
          message.textContent = error.message;
        }
        input.focus();
      }
    });
  }

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) {
        continue;
      }
      if (name === "text") {
        node.textContent = value;
      } else if (name === "className") {
        node.className = value;
      } else {
        node.setAttribute(name, value === true ? "" : String(value));
      }
    }
    for (const child of children) {
      if (child !== null && child !== undefined) {
        node.append(child);
      }
    }
    return node;
  }

  global.Walkout = { token, call, ApiError, bindTokenForm, el, apiBase };
})(window);
