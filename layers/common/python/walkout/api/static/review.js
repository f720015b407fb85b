// The review console: claim the next task, answer "who moved what, and how many?" for each
// uncertain event (clicks or keys), submit, see the result, claim the next.
//
// API: POST /review-tasks/next (200 a task, 204 none), POST /review-tasks/{id}/answers
// with {"answers": [{"event_id", "shopper", "sku", "qty", "also"}]} (200 {"task_id", "status"}).
// `also`: [{"shopper", "qty"}] for one other person who moved units of the same product in
// the same event (the shelf weighed both as one change; qty plus theirs at most `max_qty`),
// or [] for nobody else, "none of them" and "nothing was moved".
// A task names shoppers by letter and colour only, and everybody else in the store at the
// moment by number; nothing here sees who they are.
"use strict";

(function () {
  const { token, call, bindTokenForm, el } = window.Walkout;
  const SVG = "http://www.w3.org/2000/svg";
  const NOTHING = "__nothing__";
  const IDLE_RETRY_MS = 10000;
  const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

  const statusLine = document.getElementById("review-status");
  const tokenForm = document.getElementById("token-form");
  const claimForm = document.getElementById("claim-form");
  const storeInput = document.getElementById("store-filter");
  const taskForm = document.getElementById("task");
  const questionsBox = document.getElementById("questions");
  const errorLine = document.getElementById("task-error");
  const submitButton = document.getElementById("submit-answers");

  let task = null;
  // event_id -> {shopper: undefined|null|"A"|"12", sku: null|"x", qty, nothing,
  //              also: null|"B"|"12" (somebody else who moved the same item), alsoQty}
  let answers = new Map();
  let active = 0;
  let busy = false;
  let idleTimer = null;

  function say(text) {
    statusLine.textContent = text;
  }

  // --- where the candidates stood ---------------------------------------------------------

  // A candidate's position is words from the edge ("at the shelf, left") or, when the edge
  // knows it, image coordinates as fractions ("0.42,0.61" or "x=0.42 y=0.61"). Words place
  // the marker roughly; without either, markers are spread along the bottom in label order.
  function markerPlace(position, index, count) {
    const text = String(position || "").toLowerCase();
    const pair = text.match(/x\s*=\s*(\d*\.?\d+)[\s,;]+y\s*=\s*(\d*\.?\d+)/) ||
      text.match(/(\d*\.\d+|[01])\s*,\s*(\d*\.\d+|[01])/);
    if (pair) {
      const x = Number(pair[1]);
      const y = Number(pair[2]);
      if (x >= 0 && x <= 1 && y >= 0 && y <= 1) {
        return { x, y, exact: true };
      }
    }
    let x = (index + 1) / (count + 1);
    let y = 0.8;
    if (/\bleft\b/.test(text)) x = 0.2;
    if (/\bright\b/.test(text)) x = 0.8;
    if (/\b(centre|center|middle)\b/.test(text)) x = 0.5;
    if (/\b(back|far|behind)\b/.test(text)) y = 0.35;
    if (/\b(front|near|close)\b/.test(text)) y = 0.85;
    return { x, y, exact: false };
  }

  function inkOn(hex) {
    const n = parseInt(hex.slice(1), 16);
    const r = (n >> 16) & 255;
    const g = (n >> 8) & 255;
    const b = n & 255;
    return 0.2126 * r + 0.7152 * g + 0.0722 * b > 140 ? "#000000" : "#FFFFFF";
  }

  function svgEl(tag, attributes) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) {
      node.setAttribute(name, String(value));
    }
    return node;
  }

  function drawMarkers(svg, shoppers, width, height) {
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.replaceChildren();
    const unit = Math.min(width, height);
    const radius = Math.max(10, unit * 0.045);
    shoppers.forEach((shopper, i) => {
      const place = markerPlace(shopper.position, i, shoppers.length);
      const cx = place.x * width;
      const cy = place.y * height;
      const group = svgEl("g", { class: "marker", "data-label": shopper.label });
      const boxW = unit * 0.16;
      const boxH = unit * 0.22;
      group.append(
        svgEl("rect", {
          x: cx - boxW / 2, y: cy - boxH / 2, width: boxW, height: boxH, rx: radius / 3,
          fill: "none", stroke: shopper.colour_hex, "stroke-width": Math.max(2, unit * 0.008),
          "stroke-dasharray": place.exact ? "none" : "6 4",
        }),
        svgEl("circle", {
          cx, cy: cy - boxH / 2, r: radius, fill: shopper.colour_hex,
          stroke: "#FFFFFF", "stroke-width": Math.max(1.5, unit * 0.004),
        }),
      );
      const letter = svgEl("text", {
        x: cx, y: cy - boxH / 2, "text-anchor": "middle", "dominant-baseline": "central",
        "font-size": radius * 1.2, "font-weight": "700", fill: inkOn(shopper.colour_hex),
      });
      letter.textContent = shopper.label;
      group.append(letter);
      svg.append(group);
    });
  }

  function evidenceUrl(item) {
    const url = typeof item === "string" ? item : item && (item.url || item.href);
    if (typeof url !== "string") return null;
    try {
      const parsed = new URL(url, window.location.href);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (_) {
      return null;
    }
  }

  function evidenceFigure(question, item, index) {
    const url = evidenceUrl(item);
    const svg = svgEl("svg", {
      class: "overlay", role: "img", preserveAspectRatio: "xMidYMid meet",
      "aria-label": "Candidates marked: " + question.shoppers.map((s) => s.label).join(", "),
    });
    const frame = el("div", { className: "frame" });
    if (url) {
      const img = el("img", {
        src: url, alt: "Evidence " + (index + 1) + " of event " + question.number,
        referrerpolicy: "no-referrer", decoding: "async",
        "data-event": question.event_id, "data-evidence": index,
      });
      drawMarkers(svg, question.shoppers, 640, 480);
      img.addEventListener("load", () => {
        frame.classList.remove("broken");
        drawMarkers(svg, question.shoppers, img.naturalWidth || 640, img.naturalHeight || 480);
      });
      img.addEventListener("error", () => {
        frame.classList.add("broken");
        refreshEvidence();
      });
      frame.append(img, svg);
    } else {
      frame.classList.add("placeholder");
      drawMarkers(svg, question.shoppers, 640, 360);
      frame.append(el("span", { className: "muted", text: "Image not available" }), svg);
    }
    return el("figure", { className: "shot" }, frame,
      el("figcaption", { className: "muted", text: "Image " + (index + 1) }));
  }

  // Evidence URLs are presigned for a few minutes (`evidence_expires_at`): a reviewer who
  // takes longer gets fresh ones from GET /review-tasks/{id} (at most once a minute).
  let evidenceTimer = null;
  let lastRefresh = 0;

  async function refreshEvidence() {
    if (!task || Date.now() - lastRefresh < 60000) return;
    lastRefresh = Date.now();
    const taskId = task.task_id;
    try {
      const { body } = await call("GET", "/review-tasks/" + encodeURIComponent(taskId));
      if (!task || task.task_id !== taskId || !body) return;
      for (const question of body.questions) {
        (question.evidence || []).forEach((item, i) => {
          const url = evidenceUrl(item);
          const img = questionsBox.querySelector(
            'img[data-event="' + question.event_id + '"][data-evidence="' + i + '"]');
          if (url && img) img.src = url;
        });
      }
      scheduleEvidenceRefresh(body.evidence_expires_at);
    } catch (_) {
      // The images stay as they are; the answer can still be given.
    }
  }

  function scheduleEvidenceRefresh(expiresAt) {
    window.clearTimeout(evidenceTimer);
    const at = Date.parse(expiresAt || "");
    if (Number.isFinite(at)) {
      evidenceTimer = window.setTimeout(refreshEvidence, Math.max(5000, at - Date.now() - 20000));
    }
  }

  // --- one question -------------------------------------------------------------------------

  function radio(name, value, checked, ...label) {
    const input = el("input", { type: "radio", name, value, checked });
    return el("label", { className: "choice" }, input, ...label);
  }

  function swatch(hex) {
    const node = el("span", { className: "swatch", "aria-hidden": "true" });
    node.style.backgroundColor = hex; // CSSOM, which the page's CSP allows (no inline style)
    return node;
  }

  // The shopper's people as the entry gate saw them: whom to recognise on the images.
  function looks(shopper, name) {
    const urls = (shopper.looks || []).map(evidenceUrl).filter(Boolean);
    if (!urls.length) return null;
    return el("span", { className: "looks" },
      ...urls.map((url, i) => el("img", {
        src: url, alt: (name || "Shopper " + shopper.label) + " at the entry" +
          (urls.length > 1 ? ", person " + (i + 1) : ""),
        referrerpolicy: "no-referrer", decoding: "async", className: "look",
      })));
  }

  // Everybody else in the store at that moment, by number with their looks: whom to name
  // when none of the candidates moved the item (the tracker may have lost who did).
  function presentPeople(question, name, selected) {
    const byLabel = new Map((task.people || []).map((person) => [person.label, person]));
    const people = (question.present || []).map((label) => byLabel.get(label)).filter(Boolean);
    if (!people.length) return null;
    const chosen = people.some((person) => person.label === selected);
    return el("details", { className: "present", open: chosen },
      el("summary", { text: "Somebody else in the store (" +
        (people.length === 1 ? "1 person" : people.length + " people") + " then)" }),
      el("div", { className: "present-people" },
        ...people.map((person) =>
          radio(name, person.label, selected === person.label,
            el("span", { text: "Person " + person.label }),
            looks(person, "Person " + person.label)))));
  }

  function renderQuestion(question, index) {
    const answer = answers.get(question.event_id);
    const who = "who-" + index;
    const what = "what-" + index;
    const also = "also-" + index;
    const title = "Event " + question.number + ": " + question.action + " at lane " +
      question.lane_id + ", " + question.local_time;
    const headingId = "q-" + index + "-title";

    const evidence = question.evidence && question.evidence.length
      ? question.evidence.map((item, i) => evidenceFigure(question, item, i))
      : [evidenceFigure(question, null, 0)];

    const shoppers = el("fieldset", { className: "shoppers" },
      el("legend", { text: "Who?" }),
      ...question.shoppers.map((shopper, i) =>
        radio(who, shopper.label, answer.shopper === shopper.label,
          el("kbd", { text: String(i + 1) }),
          swatch(shopper.colour_hex),
          el("span", { text: shopper.label + " (" + shopper.colour + ")" }),
          looks(shopper),
          shopper.position ? el("span", { className: "muted", text: " " + shopper.position }) : null)),
      radio(who, "", answer.shopper === null, el("kbd", { text: "0" }),
        el("span", { text: "None of them" })),
      presentPeople(question, who, answer.shopper),
    );

    const products = el("fieldset", { className: "products" },
      el("legend", { text: "What?" }),
      ...question.products.map((product) =>
        radio(what, product.sku, answer.sku === product.sku,
          el("span", { text: product.name }),
          el("span", { className: "muted", text: " " + product.sku }))),
      radio(what, NOTHING, answer.nothing, el("kbd", { text: "n" }),
        el("span", { text: "Nothing was moved" })),
    );

    const qty = el("div", { className: "quantity", role: "group", "aria-label": "How many?" },
      el("span", { text: "How many?" }),
      el("button", { type: "button", className: "qty-minus", "aria-label": "one fewer", text: "−" }),
      el("output", { className: "qty-value", "aria-live": "polite", text: String(answer.qty) }),
      el("button", { type: "button", className: "qty-plus", "aria-label": "one more", text: "+" }),
      el("span", { className: "muted", text: "of at most " + question.max_qty }),
    );

    // One other person who moved the same item at the same moment, and how many they moved.
    const others = el("fieldset", { className: "others" },
      el("legend", { text: "Somebody else too?" }),
      el("span", { className: "muted", text: "who moved the same item at the same moment" }),
      radio(also, "", answer.also === null, el("span", { text: "Nobody else" })),
      ...question.shoppers.map((shopper) =>
        radio(also, shopper.label, answer.also === shopper.label,
          swatch(shopper.colour_hex),
          el("span", { text: shopper.label + " (" + shopper.colour + ")" }))),
      presentPeople(question, also, answer.also),
      el("div", { className: "quantity", role: "group", "aria-label": "How many did they move?" },
        el("span", { text: "How many did they move?" }),
        el("button", {
          type: "button", className: "also-minus", "aria-label": "one fewer for them", text: "−",
        }),
        el("output", {
          className: "also-value", "aria-live": "polite", text: String(answer.alsoQty),
        }),
        el("button", {
          type: "button", className: "also-plus", "aria-label": "one more for them", text: "+",
        })),
    );

    const section = el("section", {
      className: "question", "data-event": question.event_id, "data-index": index,
      "aria-labelledby": headingId, tabindex: "-1",
    },
    el("h3", { id: headingId, text: title }),
    el("p", { className: "prompt", text: question.prompt }),
    el("div", { className: "evidence" }, ...evidence),
    el("div", { className: "answer" }, shoppers, products, qty, others),
    );

    section.addEventListener("change", (event) => {
      const input = event.target;
      if (input.name === who) {
        answer.shopper = input.value === "" ? null : input.value;
      } else if (input.name === what) {
        answer.nothing = input.value === NOTHING;
        answer.sku = answer.nothing ? null : input.value;
      } else if (input.name === also) {
        answer.also = input.value === "" ? null : input.value;
        answer.alsoQty = 1;
        // Room for their one unit: the first shopper's quantity gives way if it must.
        if (answer.also !== null) answer.qty = Math.min(answer.qty, question.max_qty - 1);
      }
      sync(index);
    });
    section.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (button && button.classList.contains("qty-plus")) step(index, +1);
      if (button && button.classList.contains("qty-minus")) step(index, -1);
      if (button && button.classList.contains("also-plus")) step(index, +1, true);
      if (button && button.classList.contains("also-minus")) step(index, -1, true);
    });
    section.addEventListener("focusin", () => activate(index, false));
    return section;
  }

  function sectionAt(index) {
    return questionsBox.querySelector('.question[data-index="' + index + '"]');
  }

  function complete(answer) {
    return answer.nothing || (answer.shopper !== undefined && answer.sku !== null);
  }

  // Somebody else only beside a named shopper who moved an item (and not that shopper).
  function othersAllowed(question, answer) {
    return !answer.nothing && typeof answer.shopper === "string" && question.max_qty > 1;
  }

  // Reflect the answer of question `index` in its inputs (first dropping a second person
  // the answer no longer allows).
  function sync(index) {
    const question = task.questions[index];
    const answer = answers.get(question.event_id);
    const section = sectionAt(index);
    const allowed = othersAllowed(question, answer);
    if (!allowed || answer.also === answer.shopper) {
      answer.also = null;
      answer.alsoQty = 1;
    }
    const theirs = answer.also === null ? 0 : answer.alsoQty;
    for (const input of section.querySelectorAll('input[name="who-' + index + '"]')) {
      input.checked = answer.shopper !== undefined && input.value === (answer.shopper || "");
      input.disabled = answer.nothing;
    }
    for (const input of section.querySelectorAll('input[name="what-' + index + '"]')) {
      input.checked = answer.nothing ? input.value === NOTHING : input.value === answer.sku;
    }
    section.querySelector(".qty-value").textContent = answer.nothing ? "0" : String(answer.qty);
    section.querySelector(".qty-minus").disabled = answer.nothing || answer.qty <= 1;
    section.querySelector(".qty-plus").disabled =
      answer.nothing || answer.qty + theirs >= question.max_qty;
    section.querySelector(".others").disabled = !allowed;
    for (const input of section.querySelectorAll('input[name="also-' + index + '"]')) {
      input.checked = input.value === (answer.also || "");
      input.closest("label").hidden = input.value !== "" && input.value === answer.shopper;
    }
    section.querySelector(".others .quantity").hidden = answer.also === null;
    section.querySelector(".also-value").textContent = String(answer.alsoQty);
    section.querySelector(".also-minus").disabled = answer.alsoQty <= 1;
    section.querySelector(".also-plus").disabled = answer.qty + theirs >= question.max_qty;
    section.classList.toggle("done", complete(answer));
  }

  // The first shopper's quantity, or with `other` the second person's: together at most max_qty.
  function step(index, delta, other) {
    const question = task.questions[index];
    const answer = answers.get(question.event_id);
    if (answer.nothing) return;
    if (other) {
      if (answer.also === null) return;
      const room = question.max_qty - answer.qty;
      answer.alsoQty = Math.max(1, Math.min(room, answer.alsoQty + delta));
    } else {
      const room = question.max_qty - (answer.also === null ? 0 : answer.alsoQty);
      answer.qty = Math.max(1, Math.min(room, answer.qty + delta));
    }
    sync(index);
  }

  function activate(index, focus) {
    if (!task) return;
    active = Math.max(0, Math.min(task.questions.length - 1, index));
    for (const section of questionsBox.querySelectorAll(".question")) {
      section.classList.toggle("active", Number(section.dataset.index) === active);
    }
    if (focus) {
      const section = sectionAt(active);
      section.focus({ preventScroll: true });
      section.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  }

  function advanceIfDone() {
    const answer = answers.get(task.questions[active].event_id);
    if (!complete(answer)) return;
    const next = task.questions.findIndex((q, i) => i > active && !complete(answers.get(q.event_id)));
    if (next >= 0) activate(next, true);
  }

  // --- keys -------------------------------------------------------------------------------

  function onKey(event) {
    if (!task || taskForm.hidden || busy || event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    if (target instanceof HTMLInputElement && target.type === "text") return;
    if (target instanceof HTMLInputElement && target.type === "password") return;
    // Enter or space on "Somebody else in the store" unfolds it (not a submit).
    if (target instanceof HTMLElement && target.tagName === "SUMMARY" &&
      (event.key === "Enter" || event.key === " ")) return;
    // Arrow keys on a radio button keep their usual meaning (move within the group).
    const onRadio = target instanceof HTMLInputElement && target.type === "radio";
    const question = task.questions[active];
    const answer = answers.get(question.event_id);
    const key = event.key;
    let handled = true;
    if (/^[1-8]$/.test(key)) {
      const shopper = question.shoppers[Number(key) - 1];
      if (shopper && !answer.nothing) {
        answer.shopper = shopper.label;
        if (answer.sku === null && question.products.length === 1) {
          answer.sku = question.products[0].sku;
        }
        sync(active);
        advanceIfDone();
      }
    } else if (key === "0") {
      if (!answer.nothing) {
        answer.shopper = null;
        sync(active);
        advanceIfDone();
      }
    } else if (key === "n" || key === "N") {
      answer.nothing = !answer.nothing;
      answer.sku = answer.nothing ? null : answer.sku;
      sync(active);
      advanceIfDone();
    } else if (key === "[" || key === "]") {
      const skus = question.products.map((p) => p.sku);
      const at = skus.indexOf(answer.sku);
      const next = at < 0 ? 0 : (at + (key === "]" ? 1 : skus.length - 1)) % skus.length;
      answer.nothing = false;
      answer.sku = skus[next];
      sync(active);
    } else if (key === "+" || key === "=") {
      step(active, +1);
    } else if (key === "-" || key === "_") {
      step(active, -1);
    } else if (key === "j" || (key === "ArrowDown" && !onRadio)) {
      activate(active + 1, true);
    } else if (key === "k" || (key === "ArrowUp" && !onRadio)) {
      activate(active - 1, true);
    } else if (key === "Enter") {
      submit();
    } else {
      handled = false;
    }
    if (handled) event.preventDefault();
  }

  // --- claiming and answering -------------------------------------------------------------

  function showTask(next) {
    task = next;
    answers = new Map(
      next.questions.map((q) => [q.event_id, {
        shopper: undefined,
        sku: q.products.length === 1 ? q.products[0].sku : null,
        qty: 1,
        nothing: false,
        also: null,
        alsoQty: 1,
      }]),
    );
    document.getElementById("task-title").textContent = "Task " + next.task_id;
    document.getElementById("task-meta").textContent = "Store " + next.store_id + " · " +
      next.questions.length + (next.questions.length === 1 ? " event" : " events") +
      " · answer by " + new Date(next.deadline).toLocaleString();
    questionsBox.replaceChildren(...next.questions.map(renderQuestion));
    next.questions.forEach((_, i) => sync(i));
    errorLine.textContent = "";
    taskForm.hidden = false;
    taskForm.dataset.taskId = next.task_id;
    lastRefresh = 0;
    scheduleEvidenceRefresh(next.evidence_expires_at);
    activate(0, true);
  }

  function hideTask() {
    window.clearTimeout(evidenceTimer);
    task = null;
    taskForm.hidden = true;
    delete taskForm.dataset.taskId;
    questionsBox.replaceChildren();
  }

  function signedOut(message) {
    token.forget();
    hideTask();
    claimForm.hidden = true;
    tokenForm.hidden = false;
    say(message);
  }

  async function claimNext() {
    if (busy) return;
    window.clearTimeout(idleTimer);
    const store = storeInput.value.trim();
    if (store && !ID.test(store)) {
      say("Store: “" + store + "” is not a store id.");
      return;
    }
    busy = true;
    say("Looking for a task…");
    try {
      const { status, body } = await call("POST", "/review-tasks/next", store ? { store_id: store } : {});
      if (status === 204 || !body) {
        hideTask();
        say("No task is waiting" + (store ? " in store " + store : "") + ". Looking again shortly.");
        idleTimer = window.setTimeout(claimNext, IDLE_RETRY_MS);
      } else {
        showTask(body);
        say("Task " + body.task_id + ": " + body.questions.length + " event(s) to answer.");
      }
    } catch (error) {
      if (error.status === 401) {
        signedOut("Your token is not valid any more. Paste a new one.");
      } else {
        say("Could not claim a task: " + error.message);
      }
    } finally {
      busy = false;
    }
  }

  async function submit() {
    if (!task || busy) return;
    const missing = task.questions.find((q) => !complete(answers.get(q.event_id)));
    if (missing) {
      const answer = answers.get(missing.event_id);
      errorLine.textContent = "Event " + missing.number + ": " +
        (answer.shopper === undefined ? "choose who (1–8, or 0 for none of them)" : "choose what was moved") +
        ", or n if nothing was moved.";
      activate(task.questions.indexOf(missing), true);
      return;
    }
    const body = {
      answers: task.questions.map((q) => {
        const answer = answers.get(q.event_id);
        if (answer.nothing) {
          return { event_id: q.event_id, shopper: null, sku: null, qty: 0, also: [] };
        }
        const also = answer.also === null ? [] : [{ shopper: answer.also, qty: answer.alsoQty }];
        return {
          event_id: q.event_id, shopper: answer.shopper, sku: answer.sku, qty: answer.qty, also,
        };
      }),
    };
    const taskId = task.task_id;
    busy = true;
    submitButton.disabled = true;
    errorLine.textContent = "";
    try {
      const { body: result } = await call(
        "POST", "/review-tasks/" + encodeURIComponent(taskId) + "/answers", body);
      const status = result && result.status;
      hideTask();
      say(status === "delivered"
        ? "Task " + taskId + ": answer delivered. Claiming the next task…"
        : "Task " + taskId + ": answer recorded (" + status + "). Claiming the next task…");
      document.body.dataset.lastResult = taskId + ":" + status;
      busy = false;
      await claimNext();
      if (statusLine.textContent.startsWith("No task")) {
        say("Task " + taskId + ": answer " + (status === "delivered" ? "delivered" : status) +
          ". " + statusLine.textContent);
      }
    } catch (error) {
      if (error.status === 401) {
        signedOut("Your token is not valid any more. Paste a new one.");
      } else {
        errorLine.textContent = "Not submitted: " + error.message;
      }
    } finally {
      busy = false;
      submitButton.disabled = false;
    }
  }

  // --- start --------------------------------------------------------------------------------

  function ready() {
    tokenForm.hidden = true;
    claimForm.hidden = false;
    const store = new URLSearchParams(window.location.search).get("store");
    if (store && ID.test(store)) storeInput.value = store;
    claimNext();
  }

  bindTokenForm(tokenForm, ready);
  claimForm.addEventListener("submit", (event) => {
    event.preventDefault();
    claimNext();
  });
  document.getElementById("forget-token").addEventListener("click", () => {
    window.clearTimeout(idleTimer);
    signedOut("Signed out. Paste a token to review again.");
  });
  taskForm.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  document.addEventListener("keydown", onKey);

  if (token.load()) {
    ready();
  } else {
    tokenForm.hidden = false;
    say("Paste a reviewer token to start.");
  }
})();
