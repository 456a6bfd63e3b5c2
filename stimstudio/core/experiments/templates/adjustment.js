/* Adjustment task on a circular continuum, written by StimStudio's export (MIT licence).
 *
 * Runs offline from the export folder (open adjustment_task.html) or from any static host that
 * serves the whole folder. jsPsych (vendored beside this file, MIT) runs the timeline; the
 * trial itself is the plugin below. URL parameters: participant, session, seed (optional; by
 * default a hash of participant and session, giving the same trial order as the StimStudio app
 * and the PsychoPy script). Without participant and session a form asks for them.
 *
 * Each trial: the target frame for target_s, a mask (noise or blank) for mask_s, then a
 * response frame starting at a random frame; Left/Right arrows or the mouse wheel move it one
 * frame through the loop (with mouse_x, the pointer's horizontal position chooses it too),
 * Space confirms; Esc asks whether to quit. Every answer is kept in the
 * browser's localStorage before the next trial (an interrupted session resumes at its first
 * unanswered trial when opened again with the same participant and session), and the results
 * CSV (the columns of `stimstudio judge adjustment`) is downloaded at the end (and on quit).
 */
(function () {
  "use strict";
  const P = window.STIMSTUDIO_PARAMS;
  const COLUMNS = [
    "participant", "session", "trial", "continuum", "n_frames", "seed", "target_frame",
    "start_frame", "response_frame", "error_frames", "error_deg", "confidence", "rt_ms",
    "onset", "timestamp",
  ];

  // The same generator and hash as StimStudio (core.judgements.adjustment) and the PsychoPy
  // script: integer arithmetic modulo 2**32.
  function mulberry32(a) {
    return function () {
      a |= 0;
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  function fnv1a32(text) {
    let h = 0x811c9dc5;
    for (const b of new TextEncoder().encode(text)) {
      h ^= b;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h >>> 0;
  }
  function plan(n, nTrials, seed) {
    const rng = mulberry32(seed >>> 0);
    const below = (k) => Math.floor(rng() * k);
    const targets = [];
    for (let i = 0; i < nTrials; i++) targets.push(Math.floor((i * n) / nTrials));
    for (let i = nTrials - 1; i > 0; i--) {
      const j = below(i + 1);
      [targets[i], targets[j]] = [targets[j], targets[i]];
    }
    return targets.map((t, i) => ({ trial: i + 1, target: t, start: below(n) }));
  }
  function circularError(response, target, n) {
    const e = (((response - target) % n) + n) % n;
    return e > n / 2 ? e - n : e;
  }
  function csvCell(v) {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function toCSV(rows) {
    const lines = [COLUMNS.join(",")];
    for (const r of rows) lines.push(COLUMNS.map((c) => csvCell(r[c])).join(","));
    return lines.join("\n") + "\n";
  }

  const state = { phase: "start", rows: [], key: null, file: null, quit: false };
  window.stimstudio = {
    state: state,
    plan: plan,
    fnv1a32: fnv1a32,
    mulberry32: mulberry32,
    resultsCSV: () => toCSV(state.rows),
  };

  function save() {
    try {
      localStorage.setItem(state.key, JSON.stringify(state.rows));
    } catch (e) {
      /* storage full or blocked (some browsers, file://): the download still has the rows */
    }
  }
  function downloadLink(text) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([toCSV(state.rows)], { type: "text/csv" }));
    a.download = state.file;
    a.textContent = text;
    return a;
  }
  function download() {
    const a = downloadLink("");
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  const PT = jsPsychModule.ParameterType;
  class AdjustmentPlugin {
    constructor(jsPsych) {
      this.jsPsych = jsPsych;
    }
    trial(el, trial) {
      const n = P.n_frames;
      const api = this.jsPsych.pluginAPI;
      const px = P.image_px;
      el.innerHTML =
        '<div class="ss-stage" style="width:' + px + "px;height:" + px + 'px">' +
        '<img id="ss-img" width="' + px + '" height="' + px + '" alt="">' +
        '<canvas id="ss-mask" width="' + px + '" height="' + px + '"></canvas>' +
        '<div id="ss-ask" class="ss-ask"></div></div>';
      const img = el.querySelector("#ss-img");
      const mask = el.querySelector("#ss-mask");
      const ask = el.querySelector("#ss-ask");
      const show = (what) => {
        img.style.visibility = what === "img" ? "visible" : "hidden";
        mask.style.visibility = what === "mask" ? "visible" : "hidden";
      };
      let frame = trial.start_frame;
      let t0 = 0;
      let asking = null; // "quit" | "confidence" | null
      let escLater = false;
      let quitAt = 0; // when the quit question appeared: its time is left out of rt_ms
      const askQuit = () => {
        asking = "quit";
        state.phase = "quit";
        quitAt = performance.now();
        ask.textContent = "Quit the session?  Y = quit, N = go on";
      };
      const onset = new Date().toISOString();

      const finish = (confidence) => {
        document.removeEventListener("keydown", onKey);
        document.removeEventListener("mousemove", onMouse);
        window.removeEventListener("wheel", onWheel);
        const err = circularError(frame, trial.target_frame, n);
        const row = {
          participant: state.participant,
          session: state.session,
          trial: trial.trial_number,
          continuum: P.continuum,
          n_frames: n,
          seed: state.seed,
          target_frame: trial.target_frame,
          start_frame: trial.start_frame,
          response_frame: frame,
          error_frames: err,
          error_deg: ((err * 360) / n).toFixed(4),
          confidence: confidence === null ? "" : confidence,
          rt_ms: state.rt.toFixed(1),
          onset: onset,
          timestamp: new Date().toISOString(),
        };
        state.rows.push(row);
        save(); // kept before the next trial starts
        show("none");
        state.phase = "iti";
        api.setTimeout(() => this.jsPsych.finishTrial(row), P.iti_s * 1000);
      };
      const move = (d) => {
        frame = (((frame + d) % n) + n) % n;
        img.src = P.frames[frame];
      };
      const onKey = (e) => {
        if (state.phase !== "response" && state.phase !== "confidence" && state.phase !== "quit") {
          if (e.key === "Escape") {
            e.preventDefault();
            escLater = true; // during the target or the mask: asked when they are over
          }
          return;
        }
        e.preventDefault();
        if (asking === "quit") {
          if (e.key === "y" || e.key === "Y") {
            state.quit = true;
            document.removeEventListener("keydown", onKey);
            document.removeEventListener("mousemove", onMouse);
            window.removeEventListener("wheel", onWheel);
            this.jsPsych.abortExperiment("The session was stopped; the answers so far are saved.");
          } else if (e.key === "n" || e.key === "N" || e.key === "Escape") {
            asking = null;
            ask.textContent = "";
            state.phase = "response";
            t0 += performance.now() - quitAt;
          }
          return;
        }
        if (asking === "confidence") {
          const k = parseInt(e.key, 10);
          if (k >= 1 && k <= P.confidence_levels) finish(k);
          return;
        }
        if (e.key === "ArrowLeft") move(-1);
        else if (e.key === "ArrowRight") move(1);
        else if (e.key === "Escape") askQuit();
        else if (e.key === " ") {
          state.rt = performance.now() - t0;
          if (P.confidence_levels > 0) {
            asking = "confidence";
            state.phase = "confidence";
            ask.textContent = "How sure are you?  1 = guessing ... " + P.confidence_levels + " = sure";
          } else finish(null);
        }
      };
      const onMouse = (e) => {
        if (!P.mouse_x || state.phase !== "response" || asking) return;
        const f = Math.floor((e.clientX / window.innerWidth) * n);
        frame = Math.max(0, Math.min(n - 1, f));
        img.src = P.frames[frame];
      };
      const onWheel = (e) => {
        if (state.phase !== "response" || asking) return;
        e.preventDefault();
        if (e.deltaY !== 0) move(e.deltaY < 0 ? 1 : -1);
      };
      document.addEventListener("keydown", onKey);
      document.addEventListener("mousemove", onMouse);
      window.addEventListener("wheel", onWheel, { passive: false });

      // target -> mask -> response
      state.phase = "target";
      state.trial = trial.trial_number;
      img.src = P.frames[trial.target_frame];
      show("img");
      api.setTimeout(() => {
        if (P.mask === "noise") {
          const ctx = mask.getContext("2d");
          const data = ctx.createImageData(px, px);
          for (let i = 0; i < data.data.length; i += 4) {
            const v = Math.floor(Math.random() * 256);
            data.data[i] = data.data[i + 1] = data.data[i + 2] = v;
            data.data[i + 3] = 255;
          }
          ctx.putImageData(data, 0, 0);
        }
        show("mask");
        state.phase = "mask";
        api.setTimeout(() => {
          img.src = P.frames[frame];
          show("img");
          state.phase = "response";
          t0 = performance.now();
          if (escLater) askQuit();
        }, P.mask_s * 1000);
      }, P.target_s * 1000);
    }
  }
  AdjustmentPlugin.info = {
    name: "stimstudio-adjustment",
    version: "1.0.0",
    parameters: {
      trial_number: { type: PT.INT, default: 1 },
      target_frame: { type: PT.INT, default: 0 },
      start_frame: { type: PT.INT, default: 0 },
    },
    data: {},
  };

  function start(participant, session, seedText) {
    state.participant = participant;
    state.session = session;
    state.seed = seedText === "" || seedText === null ? fnv1a32(participant + "|" + session) : parseInt(seedText, 10) >>> 0;
    state.key = "stimstudio-adjustment|" + P.continuum + "|" + participant + "|" + session;
    state.file = "adjustment_" + participant + "_session" + session + ".csv";
    try {
      state.rows = JSON.parse(localStorage.getItem(state.key) || "[]");
    } catch (e) {
      state.rows = [];
    }
    const done = new Set(state.rows.map((r) => r.trial));
    return plan(P.n_frames, P.n_trials, state.seed)
      .filter((t) => !done.has(t.trial))
      .map((t) => ({ type: AdjustmentPlugin, trial_number: t.trial, target_frame: t.target, start_frame: t.start }));
  }

  const jsPsych = initJsPsych({
    on_finish: () => {
      state.phase = "done";
      download();
      const el = jsPsych.getDisplayElement();
      el.innerHTML =
        "<p>" + (state.quit ? "The session was stopped." : "Thank you! The session is finished.") +
        "</p><p>The results file " + state.file + " has been downloaded.</p><p></p>";
      // where a browser blocks downloads it did not see clicked: a link to click
      el.querySelector("p:last-child").appendChild(downloadLink("Download the results again"));
    },
  });
  window.stimstudio.jsPsych = jsPsych;

  const url = new URLSearchParams(window.location.search);
  const timeline = [];
  const trials = { timeline: [] };
  timeline.push({ type: jsPsychPreload, images: P.frames });
  if (url.get("participant") && url.get("session")) {
    trials.timeline = start(url.get("participant").trim(), parseInt(url.get("session"), 10), url.get("seed") || "");
  } else {
    timeline.push({
      type: jsPsychSurveyHtmlForm,
      html:
        '<p><label>Participant <input name="participant" required></label></p>' +
        '<p><label>Session <input name="session" type="number" min="1" value="1" required></label></p>' +
        '<p><label>Seed (empty: from participant) <input name="seed" type="number" min="0"></label></p>',
      on_finish: (data) => {
        const r = data.response;
        trials.timeline.push(...start(String(r.participant).trim(), parseInt(r.session, 10), r.seed));
      },
    });
  }
  timeline.push({
    type: jsPsychHtmlKeyboardResponse,
    stimulus: () =>
      "<p>" + P.instructions + "</p><p>Press Space to start.</p>",
    choices: [" "],
    on_start: () => {
      state.phase = "instructions";
    },
  });
  timeline.push(trials);
  jsPsych.run(timeline);
})();
