// The door's check-in screen (checkin/templates/checkin/screen.html). An ES module, no build step,
// no inline script (CSP). Without it the page's forms still work; with it:
// - a code typed or sent by a keyboard-wedge scanner (code + Enter) is checked without a reload, and
//   the code field takes the focus back whenever nothing else is being used;
// - the camera scans QR codes with the vendored qr-scanner (imported only when started);
// - search shows results as you type, each with a "Check in" button;
// - the door is chosen once and kept in localStorage; the counter follows the other doors;
// - each answer is big, in colour and words, announced (aria-live), with a beep and a vibration
//   that differ for yes and no, and an undo button after a welcome.
// Every scan carries a request id; a request that fails on the network is sent again with the
// same id, so the server answers it once and never counts it twice.

const DOOR_KEY = "eventsite.checkin.door";
const SOUND_KEY = "eventsite.checkin.sound";
const STATS_EVERY_MS = 3000;
const SAME_CODE_QUIET_MS = 6000; // the camera sees the same code many times a second
const SECRET_LIKE = /^[A-Za-z0-9]{20,64}$/;

const root = document.getElementById("checkin");
if (root) {
  init(root);
}

function init(root) {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const urls = {
    scan: root.dataset.scanUrl,
    undo: root.dataset.undoUrl,
    search: root.dataset.searchUrl,
    stats: root.dataset.statsUrl,
    scanner: root.dataset.scannerUrl,
  };
  const $ = (id) => document.getElementById(id);
  const el = {
    result: $("result"),
    actions: $("result-actions"),
    scanForm: $("scan-form"),
    code: $("code"),
    doorForm: $("door-form"),
    doorInput: $("door-input"),
    doorCurrent: $("door-current"),
    doorName: $("door-name"),
    doorChange: $("door-change"),
    soundOn: $("sound-on"),
    countIn: $("count-in"),
    countExpected: $("count-expected"),
    cameraToggle: $("camera-toggle"),
    cameraStatus: $("camera-status"),
    cameraView: $("camera-view"),
    video: $("camera-video"),
    searchForm: $("search-form"),
    searchInput: $("search-input"),
    searchStatus: $("search-status"),
    searchResults: $("search-results"),
  };

  // --- storage (private browsing may refuse it: then nothing is remembered, nothing breaks) ----
  const store = {
    get(key) { try { return window.localStorage.getItem(key); } catch (e) { return null; } },
    set(key, value) { try { window.localStorage.setItem(key, value); } catch (e) { /* not kept */ } },
  };

  // --- the door -------------------------------------------------------------------------------
  function door() { return (store.get(DOOR_KEY) || "").trim(); }

  function showDoor() {
    const name = door();
    el.doorForm.hidden = Boolean(name);
    el.doorCurrent.hidden = !name;
    el.doorName.textContent = name;
    if (!name) { el.doorInput.value = ""; }
  }

  el.doorForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = el.doorInput.value.replace(/\s+/g, " ").trim().slice(0, 40);
    if (!name) { el.doorInput.focus(); return; }
    store.set(DOOR_KEY, name);
    showDoor();
    focusCode();
  });
  el.doorChange.addEventListener("click", () => {
    el.doorInput.value = door();
    el.doorForm.hidden = false;
    el.doorCurrent.hidden = true;
    el.doorInput.focus();
    el.doorInput.select();
  });

  // --- sound and vibration ----------------------------------------------------------------------
  el.soundOn.checked = store.get(SOUND_KEY) !== "off";
  el.soundOn.addEventListener("change", () => {
    store.set(SOUND_KEY, el.soundOn.checked ? "on" : "off");
    focusCode();
  });

  let audio = null;
  function unlockAudio() {
    // Browsers start audio only after a user gesture: the first key or tap creates the context.
    if (audio) { if (audio.state === "suspended") { audio.resume().catch(() => {}); } return; }
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (Ctx) { try { audio = new Ctx(); } catch (e) { audio = null; } }
  }
  document.addEventListener("keydown", unlockAudio, { capture: true });
  document.addEventListener("pointerdown", unlockAudio, { capture: true });

  function beep(kind) {
    if (el.soundOn.checked && audio) {
      // yes: two short rising notes; already: two flat mid notes; no: a long low buzz, twice.
      const notes = {
        yes: [["sine", 880, 0, 0.09], ["sine", 1320, 0.11, 0.14]],
        already: [["triangle", 440, 0, 0.12], ["triangle", 440, 0.18, 0.12]],
        no: [["square", 196, 0, 0.22], ["square", 156, 0.27, 0.3]],
      }[kind];
      const t0 = audio.currentTime + 0.01;
      for (const [type, freq, at, length] of notes) {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.type = type;
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, t0 + at);
        gain.gain.exponentialRampToValueAtTime(0.25, t0 + at + 0.01);
        gain.gain.exponentialRampToValueAtTime(0.0001, t0 + at + length);
        osc.connect(gain).connect(audio.destination);
        osc.start(t0 + at);
        osc.stop(t0 + at + length + 0.02);
      }
    }
    if (navigator.vibrate) {
      try { navigator.vibrate(kind === "yes" ? 90 : kind === "already" ? [120, 80, 120] : [300, 100, 300]); } catch (e) { /* no */ }
    }
  }

  // --- requests ---------------------------------------------------------------------------------
  class ScreenError extends Error {}

  function requestId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") { return window.crypto.randomUUID(); }
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes); // works outside secure contexts too
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function readJSON(response) {
    const type = response.headers.get("Content-Type") || "";
    if (!type.includes("application/json")) {
      // Flask-Login sent the login page: the session ended.
      throw new ScreenError("You are no longer logged in. Reload the page and log in again.");
    }
    const data = await response.json();
    if (!response.ok) {
      const message = data && data.error && data.error.message;
      throw new ScreenError(message || "The server refused this (" + response.status + ").");
    }
    return data;
  }

  async function postJSON(url, body) {
    // Network failures are retried with the SAME body (same request id): the server answers a
    // request id once, so a retry can never check a ticket in twice.
    let lastError = null;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        const response = await fetch(url, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
          body: JSON.stringify(body),
        });
        return await readJSON(response);
      } catch (error) {
        if (error instanceof ScreenError) { throw error; }
        lastError = error;
        await new Promise((resolve) => setTimeout(resolve, 400 * (attempt + 1)));
      }
    }
    throw new ScreenError("No connection to the server. Check the network, then scan again. (" + (lastError && lastError.message) + ")");
  }

  async function getJSON(url, signal) {
    const response = await fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" }, signal });
    return readJSON(response);
  }

  // --- the answer panel -------------------------------------------------------------------------
  const ICONS = { ok: "✓", already_checked_in: "!", undone: "↺", idle: "", pending: "…" };

  function paint(kind, headline, detail, extra) {
    el.result.className = "result result-" + kind;
    const frag = document.createDocumentFragment();
    const head = document.createElement("p");
    head.className = "result-headline";
    const icon = document.createElement("span");
    icon.className = "result-icon";
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = kind in ICONS ? ICONS[kind] : "✕";
    const words = document.createElement("span");
    words.className = "result-words";
    words.textContent = headline;
    head.append(icon, " ", words);
    frag.append(head);
    if (detail) {
      const p = document.createElement("p");
      p.className = "result-detail";
      p.textContent = detail;
      frag.append(p);
    }
    if (extra) { frag.append(extra); }
    el.result.replaceChildren(frag);
    el.actions.replaceChildren();
  }

  function answersList(answers) {
    if (!answers || !answers.length) { return null; }
    const dl = document.createElement("dl");
    dl.className = "result-answers";
    for (const item of answers) {
      const dt = document.createElement("dt");
      dt.textContent = item.question;
      const dd = document.createElement("dd");
      dd.textContent = item.answer;
      dl.append(dt, dd);
    }
    return dl;
  }

  function showOutcome(data) {
    const extra = document.createDocumentFragment();
    const answers = answersList(data.ticket && data.ticket.door_answers);
    if (answers) { extra.append(answers); }
    if (data.replayed) {
      const note = document.createElement("p");
      note.className = "result-note";
      note.textContent = "This request was answered before; nothing new was recorded.";
      extra.append(note);
    }
    paint(data.result, data.headline, data.detail, extra);
    if (data.admit && data.scan_id) {
      const undo = document.createElement("button");
      undo.type = "button";
      undo.className = "button-secondary";
      undo.id = "undo-button";
      undo.textContent = "Undo this check-in";
      undo.addEventListener("click", () => undoScan(data.scan_id, data.ticket ? data.ticket.attendee_name : ""));
      el.actions.replaceChildren(undo);
    }
    beep(data.admit ? "yes" : data.result === "already_checked_in" ? "already" : "no");
  }

  function showError(error) {
    paint("error", "Not checked", error.message || String(error));
    beep("no");
  }

  // --- scanning ---------------------------------------------------------------------------------
  let chain = Promise.resolve();

  function scan(payload) {
    // One request at a time, answers in the order the codes came.
    const body = Object.assign({ door: door(), request_id: requestId() }, payload);
    chain = chain.then(async () => {
      paint("pending", "Checking…", "");
      try {
        showOutcome(await postJSON(urls.scan, body));
      } catch (error) {
        showError(error);
      }
      refreshStats();
      if (lastQuery) { runSearch(lastQuery); }
    });
    return chain;
  }

  async function undoScan(scanId, name) {
    try {
      const data = await postJSON(urls.undo, { scan_id: scanId, door: door() });
      paint("undone", data.undone ? "Check-in undone" : "Nothing to undo", data.message);
      beep("already");
    } catch (error) {
      showError(error);
    }
    refreshStats();
    if (lastQuery) { runSearch(lastQuery); }
    focusCode();
  }

  el.scanForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const code = el.code.value;
    el.code.value = "";
    if (!code.trim()) { focusCode(); return; }
    scan({ code, method: "keyboard" });
    focusCode();
  });

  // The code field is "always ready" for a keyboard-wedge scanner: focus returns to it whenever
  // nothing else has it, and printable keys typed while a button has the focus go to it (so a
  // scanner's Enter never presses "Undo" or "Stop camera" by accident).
  function typingElsewhere() {
    const a = document.activeElement;
    return a && a !== el.code && (a.tagName === "INPUT" || a.tagName === "TEXTAREA" || a.tagName === "SELECT")
      && a.type !== "checkbox";
  }

  function focusCode() {
    if (!typingElsewhere() && el.doorForm.hidden) {
      // Focused by the page, not by a tap: no on-screen keyboard over half a phone's screen
      // (a scanner's keys still arrive). A tap on the field brings the keyboard back.
      el.code.inputMode = "none";
      el.code.focus({ preventScroll: true });
    }
  }

  el.code.addEventListener("pointerdown", () => {
    if (el.code.inputMode === "none") {
      el.code.blur(); // the tap focuses it again, now with the keyboard
      el.code.inputMode = "text";
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typingElsewhere() || document.activeElement === el.code) { return; }
    // Letters and digits move the focus (and themselves) into the code field, so the scanner's
    // Enter that follows lands there too. Space, Enter and Tab keep working on buttons and links.
    if (event.key.length === 1 && event.key !== " ") {
      el.code.focus({ preventScroll: true });
    }
  }, { capture: true });

  document.addEventListener("focusout", () => {
    setTimeout(() => {
      const a = document.activeElement;
      if (!a || a === document.body || a === el.result) { focusCode(); }
    }, 120);
  });

  // --- the counter ------------------------------------------------------------------------------
  let statsBusy = false;
  async function refreshStats() {
    if (statsBusy) { return; }
    statsBusy = true;
    try {
      const data = await getJSON(urls.stats);
      el.countIn.textContent = String(data.checked_in);
      el.countExpected.textContent = String(data.expected);
      root.dataset.statsAt = String(Date.now());
    } catch (error) {
      /* the next poll tries again */
    } finally {
      statsBusy = false;
    }
  }
  setInterval(() => { if (!document.hidden) { refreshStats(); } }, STATS_EVERY_MS);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) { refreshStats(); } });

  // --- search as you type -----------------------------------------------------------------------
  let searchTimer = null;
  let searchAbort = null;
  let lastQuery = "";

  function renderResults(data) {
    const items = data.results.map((t) => {
      const li = document.createElement("li");
      li.className = "search-result search-" + t.state;
      const main = document.createElement("div");
      main.className = "search-main";
      const name = document.createElement("strong");
      name.className = "search-name";
      name.textContent = t.attendee_name;
      const meta = document.createElement("span");
      meta.className = "meta";
      const bits = [t.ticket_type, "order " + t.order_code];
      if (t.attendee_email) { bits.push(t.attendee_email); }
      if (t.buyer_name && t.buyer_name !== t.attendee_name) { bits.push("booked by " + t.buyer_name); }
      meta.textContent = bits.join(" · ");
      const state = document.createElement("span");
      state.className = "search-state";
      state.textContent = t.state_label;
      main.append(name, meta, state);
      li.append(main);
      if (t.can_check_in) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "button";
        button.textContent = "Check in";
        button.setAttribute("aria-label", "Check in " + t.attendee_name);
        button.addEventListener("click", () => {
          button.disabled = true;
          scan({ ticket_id: t.id, method: "search" }).then(focusCode);
        });
        li.append(button);
      }
      return li;
    });
    el.searchResults.replaceChildren(...items);
    if (data.too_short) {
      el.searchStatus.textContent = data.query ? "Type at least 2 letters." : "";
    } else if (!data.results.length) {
      el.searchStatus.textContent = "No ticket matches “" + data.query + "”.";
    } else {
      const n = data.results.length;
      el.searchStatus.textContent = n + (n === 1 ? " ticket" : " tickets") + (data.more ? " shown; type more to narrow it down." : ".");
    }
  }

  async function runSearch(query) {
    if (searchAbort) { searchAbort.abort(); }
    searchAbort = new AbortController();
    try {
      const data = await getJSON(urls.search + "?q=" + encodeURIComponent(query), searchAbort.signal);
      renderResults(data);
    } catch (error) {
      if (error.name !== "AbortError") { el.searchStatus.textContent = error.message || "Search failed."; }
    }
  }

  el.searchInput.addEventListener("input", () => {
    clearTimeout(searchTimer);
    const query = el.searchInput.value.trim();
    lastQuery = query;
    if (!query) { el.searchResults.replaceChildren(); el.searchStatus.textContent = ""; return; }
    searchTimer = setTimeout(() => runSearch(query), 250);
  });

  el.searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = el.searchInput.value.trim();
    if (SECRET_LIKE.test(query)) {
      // A scanner fired while the search field had the focus: that is a ticket code, not a name.
      el.searchInput.value = "";
      lastQuery = "";
      el.searchResults.replaceChildren();
      el.searchStatus.textContent = "";
      scan({ code: query, method: "keyboard" });
      focusCode();
      return;
    }
    clearTimeout(searchTimer);
    lastQuery = query;
    if (query) { runSearch(query); }
  });

  // --- the camera -------------------------------------------------------------------------------
  let scanner = null;
  let cameraOn = false;
  let lastCode = "";
  let lastCodeAt = 0;

  function explainCameraError(error) {
    const name = (error && error.name) || "";
    const text = String((error && error.message) || error || "");
    if (name === "NotAllowedError" || name === "SecurityError" || /denied|not allowed|permission/i.test(text)) {
      return "The browser may not use the camera. Allow the camera for this site (the camera icon in the address bar, "
        + "or the browser's site settings), then press Start camera again. Meanwhile, type codes or search by name.";
    }
    if (name === "NotFoundError" || name === "OverconstrainedError" || /not found|no camera/i.test(text)) {
      return "No camera was found on this device. Use a hardware scanner, type the code, or search by name.";
    }
    if (name === "NotReadableError" || name === "AbortError" || /in use|could not start/i.test(text)) {
      return "The camera is busy: another app or browser tab is using it. Close that, then press Start camera again.";
    }
    return "The camera could not start (" + (name || text || "unknown error") + "). Type codes or search by name instead.";
  }

  function onDecoded(result) {
    const code = ((result && result.data) || "").trim();
    if (!code) { return; }
    const now = Date.now();
    if (code === lastCode && now - lastCodeAt < SAME_CODE_QUIET_MS) { return; }
    lastCode = code;
    lastCodeAt = now;
    scan({ code, method: "camera" });
  }

  async function startCamera() {
    el.cameraStatus.textContent = "Starting the camera…";
    el.cameraToggle.disabled = true;
    try {
      if (!scanner) {
        const module = await import(urls.scanner);
        const QrScanner = module.default;
        scanner = new QrScanner(el.video, onDecoded, {
          returnDetailedScanResult: true,
          preferredCamera: "environment",
          maxScansPerSecond: 10,
          onDecodeError: () => {}, // "no QR code in this frame": normal, many times a second
        });
      }
      el.cameraView.hidden = false;
      await scanner.start();
      cameraOn = true;
      root.dataset.camera = "on";
      el.cameraToggle.textContent = "Stop camera";
      el.cameraStatus.textContent = "Camera on: hold a ticket's QR code inside the frame.";
    } catch (error) {
      el.cameraView.hidden = true;
      root.dataset.camera = "error";
      el.cameraStatus.textContent = explainCameraError(error);
    } finally {
      el.cameraToggle.disabled = false;
    }
  }

  function stopCamera() {
    if (scanner) { scanner.stop(); }
    cameraOn = false;
    root.dataset.camera = "off";
    el.cameraView.hidden = true;
    el.cameraToggle.textContent = "Start camera";
    el.cameraStatus.textContent = "Camera off.";
  }

  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    el.cameraStatus.textContent = "The camera needs a secure connection (an https:// address). "
      + "Type codes, use a hardware scanner, or search by name.";
  } else {
    el.cameraToggle.hidden = false;
    el.cameraStatus.textContent = "Press Start camera to scan QR codes with this device's camera.";
    el.cameraToggle.addEventListener("click", async () => {
      if (cameraOn) { stopCamera(); } else { await startCamera(); }
      focusCode();
    });
  }

  // --- start ------------------------------------------------------------------------------------
  showDoor();
  if (door()) { el.code.blur(); focusCode(); } else { el.doorInput.focus(); }
  root.dataset.ready = "true";
}
