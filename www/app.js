// SPDX-License-Identifier: ISC
/* app.js: the chatstream chat page.  Plain JavaScript, no build step, no
 * external resources.
 *
 * The flow (chatstream's resumable streams):
 *   1. POST {"messages", "model", "max_tokens"} to the endpoint with
 *      Accept: application/json.  "messages" is the whole conversation
 *      (OpenAI's roles: each earlier prompt as "user", the text its answer
 *      showed as "assistant", then the new prompt), so the model sees what
 *      came before.  chatstream starts the answer and replies 202 Accepted
 *      with {"id", "url"} (and Location: url).
 *   2. new EventSource(url): the browser's own SSE client reads the answer.
 *      When the connection drops, the browser reconnects by itself and sends
 *      Last-Event-ID; chatstream replays what was missed, each token once.
 *      While the browser retries (readyState CONNECTING after an error) the
 *      page shows "Reconnecting…".
 *   3. On event: done or event: error the page closes the EventSource, so
 *      the browser stops reconnecting.
 *   The browser gives up on its own on an HTTP error (say a front server's
 *   503 while chatstream restarts); the page then opens a new EventSource
 *   with ?last_event_id=N, a few times (follow()).
 *   Stop sends DELETE to the stream's url; chatstream stops the model and
 *   ends the stream with done, finish_reason "cancelled"; the page then shows
 *   "Stopped".
 *
 * Reload: the conversation lives in this tab's sessionStorage (Store,
 * below), with the running answer's stream url and the id of the last
 * event its text holds, written together (a moment after each event, and
 * on pagehide).  A reloaded
 * page shows the conversation again and reopens the running answer's
 * stream with ?last_event_id=that id: the answer carries on from the
 * next token, each token once.  Leaving the page therefore does not stop
 * the answer at once: it tells chatstream it leaves, and chatstream stops
 * the model when nobody is back within its leave_window (see
 * Page.prototype.leave).
 *
 * Fallback: a server that cannot keep streams (chatstream with journal = off,
 * or an older one) answers the POST with 200 text/event-stream instead of
 * 202.  The page then reads that response with fetch(): a TextDecoder turns
 * the bytes into text and SSEParser (below, written from the WHATWG "Parsing
 * an event stream" rules) turns the text into events.  When event: meta
 * names a "resume" url, Stop and a reload use it as above; without one,
 * Stop aborts the fetch (AbortController), the front server closes the
 * FastCGI connection and chatstream stops the model (outcome=client_gone),
 * and a reload cannot continue the answer.
 *
 * Token text is appended to a Text node, never parsed as HTML.
 *
 * Where chatstream is: the endpoint is "chat/" relative to the page, or the
 * page's data-endpoint attribute (on <html>), or ?endpoint=URL (same origin
 * only, so a link cannot send someone's prompts elsewhere).  It must end in
 * "/": requests go to ENDPOINT (POST), ENDPOINT + "health" and
 * ENDPOINT + "v1/models" (GET), and to the stream url chatstream returns
 * (GET through EventSource, DELETE), which must be on the same origin.
 */
(function () {
	"use strict";

	/* ------------------------------------------------------------------ */
	/* SSE parser (WHATWG HTML, "9.2.6 Parsing an event stream")          */
	/* ------------------------------------------------------------------ */

	/**
	 * Incremental event-stream parser.  feed() takes decoded text in chunks
	 * of any size (an event, a line, even a CRLF may be split across them);
	 * end() at the end of the stream discards an unterminated event, as the
	 * spec says.  Callbacks: onEvent({type, data, lastEventId}),
	 * onComment(text), onRetry(ms).
	 *
	 *  - lines end with CRLF, LF or CR; a CR that ends one chunk and the LF
	 *    that starts the next are one line end;
	 *  - ":" starts a comment; "name:value" drops one space after the colon;
	 *    a line without a colon is a field with an empty value;
	 *  - data: appended to the data buffer followed by LF; event: sets the
	 *    type; id: sets the last event ID unless it contains NUL (and the ID
	 *    persists across events); retry: only all-ASCII-digit values; other
	 *    fields are ignored;
	 *  - a blank line dispatches: an empty data buffer dispatches nothing,
	 *    otherwise one trailing LF is removed and the type defaults to
	 *    "message".
	 * The decoder strips a leading BOM (TextDecoder does by default).
	 */
	function SSEParser(handlers) {
		handlers = handlers || {};
		this.onEvent = handlers.onEvent || function () {};
		this.onComment = handlers.onComment || function () {};
		this.onRetry = handlers.onRetry || function () {};
		this.rest = "";          // text after the last line end
		this.skipLF = false;     // the previous chunk ended with CR
		this.data = "";
		this.type = "";
		this.idBuffer = "";
		this.lastEventId = "";
		this.ended = false;
	}

	SSEParser.prototype.feed = function (chunk) {
		if (this.ended || !chunk) {
			return;
		}
		if (this.skipLF) {
			this.skipLF = false;
			if (chunk.charCodeAt(0) === 10) {
				chunk = chunk.slice(1);
			}
		}
		var scanFrom = this.rest.length;
		var buf = this.rest + chunk;
		var n = buf.length;
		var start = 0;
		for (var i = scanFrom; i < n; i++) {
			var c = buf.charCodeAt(i);
			if (c !== 10 && c !== 13) {
				continue;
			}
			this.line(buf.slice(start, i));
			if (c === 13) {
				if (i + 1 < n) {
					if (buf.charCodeAt(i + 1) === 10) {
						i++;
					}
				} else {
					this.skipLF = true;
				}
			}
			start = i + 1;
			if (this.ended) {
				return;          // a handler closed the stream
			}
		}
		this.rest = buf.slice(start);
	};

	SSEParser.prototype.line = function (line) {
		if (line === "") {
			this.dispatch();
			return;
		}
		if (line.charCodeAt(0) === 58) {             // ':'
			this.onComment(line.slice(1));
			return;
		}
		var k = line.indexOf(":");
		var field = line;
		var value = "";
		if (k >= 0) {
			field = line.slice(0, k);
			value = line.slice(k + 1);
			if (value.charCodeAt(0) === 32) {        // one leading space
				value = value.slice(1);
			}
		}
		switch (field) {
		case "event":
			this.type = value;
			break;
		case "data":
			this.data += value + "\n";
			break;
		case "id":
			if (value.indexOf("\u0000") < 0) {
				this.idBuffer = value;
			}
			break;
		case "retry":
			if (/^[0-9]+$/.test(value)) {
				this.onRetry(parseInt(value, 10));
			}
			break;
		default:
			break;                                   // ignored
		}
	};

	SSEParser.prototype.dispatch = function () {
		this.lastEventId = this.idBuffer;
		if (this.data === "") {
			this.type = "";
			return;
		}
		var data = this.data;
		if (data.charCodeAt(data.length - 1) === 10) {
			data = data.slice(0, -1);
		}
		var ev = { type: this.type || "message", data: data, lastEventId: this.lastEventId };
		this.data = "";
		this.type = "";
		this.onEvent(ev);
	};

	/** End of stream: whatever is pending was never terminated; drop it. */
	SSEParser.prototype.end = function () {
		this.ended = true;
		this.rest = "";
		this.data = "";
		this.type = "";
	};

	/* ------------------------------------------------------------------ */
	/* Endpoint                                                           */
	/* ------------------------------------------------------------------ */

	function withSlash(u) {
		return u.pathname.slice(-1) === "/" ? u : new URL(u.pathname + "/" + u.search, u);
	}

	/** The chatstream mount as an absolute URL ending in "/". */
	function resolveEndpoint() {
		var fallback = new URL(document.documentElement.getAttribute("data-endpoint") || "chat/",
			location.href);
		var q = new URLSearchParams(location.search).get("endpoint");
		if (q) {
			try {
				var u = new URL(q, location.href);
				if (u.origin === location.origin) {
					return { url: withSlash(u), note: "" };
				}
				return { url: withSlash(fallback),
					note: "Ignored ?endpoint=" + q + ": only this site's own URLs are allowed." };
			} catch (e) {
				return { url: withSlash(fallback), note: "Ignored ?endpoint=" + q + ": not a URL." };
			}
		}
		return { url: withSlash(fallback), note: "" };
	}

	/* ------------------------------------------------------------------ */
	/* The conversation in sessionStorage                                 */
	/* ------------------------------------------------------------------ */

	/**
	 * The conversation of this tab, one key per endpoint:
	 * {"v": 1, "turns": [turn, ...]}, where a turn is {prompt, model, who,
	 * text, state, stats, title, error, streamId, url, lastEventId, tokens}
	 * (all strings but tokens).  sessionStorage outlives a reload and the
	 * tab's history, not the tab.  save() writes everything at once, so the
	 * text of an answer and the id of its last event always agree.  When
	 * storage is off or full, the page still works and ok turns false: a
	 * reload then forgets.
	 */
	var STORE_VERSION = 1;
	var TURN_FIELDS = ["prompt", "model", "who", "text", "state", "stats", "title", "error",
		"streamId", "url", "lastEventId", "reasoning", "calls"];

	function Store(endpoint) {
		this.key = "chatstream:" + endpoint.href;
		this.ok = true;
	}

	/** The saved turns, each field checked; [] when there are none. */
	Store.prototype.load = function () {
		var s;
		try {
			s = JSON.parse(window.sessionStorage.getItem(this.key) || "null");
		} catch (e) {
			return [];
		}
		if (!s || s.v !== STORE_VERSION || !Array.isArray(s.turns)) {
			return [];
		}
		return s.turns.filter(function (t) {
			return t && typeof t === "object" && typeof t.prompt === "string";
		}).map(function (t) {
			var r = { tokens: typeof t.tokens === "number" ? t.tokens : 0 };
			TURN_FIELDS.forEach(function (k) {
				r[k] = typeof t[k] === "string" ? t[k] : "";
			});
			return r;
		});
	};

	Store.prototype.save = function (turns) {
		try {
			window.sessionStorage.setItem(this.key, JSON.stringify({ v: STORE_VERSION, turns: turns }));
			this.ok = true;
		} catch (e) {
			this.ok = false;
		}
	};

	Store.prototype.clear = function () {
		try {
			window.sessionStorage.removeItem(this.key);
		} catch (e) {
			/* nothing was kept */
		}
	};

	/* ------------------------------------------------------------------ */
	/* The page                                                           */
	/* ------------------------------------------------------------------ */

	var STATES = {
		idle: "Ready",
		connecting: "Connecting\u2026",
		streaming: "Streaming\u2026",
		done: "Done",
		stopped: "Stopped",
		error: "Error",
		reconnecting: "Reconnecting\u2026"    // EventSource is retrying (Last-Event-ID)
	};

	var BUSY = ["connecting", "streaming", "reconnecting"];
	var SAVE_DELAY_MS = 200;     // at most this much of an answer is unsaved (see save())

	function $(id) {
		return document.getElementById(id);
	}

	function el(tag, cls, text) {
		var e = document.createElement(tag);
		if (cls) {
			e.className = cls;
		}
		if (text !== undefined && text !== null) {
			e.textContent = text;
		}
		return e;
	}

	function fmtMs(ms) {
		if (typeof ms !== "number" || !isFinite(ms)) {
			return null;
		}
		return ms < 1000 ? Math.round(ms) + " ms" : (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
	}

	/** {"error": {"type", "message"}} -> "type: message", else null. */
	function errorText(obj) {
		var e = obj && obj.error;
		if (!e || typeof e !== "object") {
			return null;
		}
		var type = typeof e.type === "string" ? e.type : "error";
		var msg = typeof e.message === "string" ? e.message : "";
		return msg ? type + ": " + msg : type;
	}

	function parseJSON(s) {
		try {
			return JSON.parse(s);
		} catch (e) {
			return undefined;
		}
	}

	function Page() {
		var ep = resolveEndpoint();
		this.endpoint = ep.url;
		this.form = $("composer");
		this.prompt = $("prompt");
		this.model = $("model");
		this.maxTokens = $("max-tokens");
		this.send = $("send");
		this.stop = $("stop");
		this.state = $("state");
		this.transcript = $("transcript");
		this.serverInfo = $("server-info");
		this.newChat = $("new-chat");
		this.emptyNote = this.transcript.querySelector(".empty");
		this.current = null;       // the running exchange
		this.unloading = false;    // pagehide came: the page is going away
		this.saveTimer = 0;        // a save() is due
		this.store = new Store(this.endpoint);
		this.turns = [];           // the conversation, as Store keeps it
		this.setState("idle");
		this.serverInfo.textContent = "Endpoint " + this.endpoint.pathname;
		if (ep.note) {
			this.notice(ep.note);
		}
		this.bind();
		this.loadModels();
		this.restore();
	}

	Page.prototype.setState = function (name, detail) {
		this.state.setAttribute("data-state", name);
		this.state.textContent = STATES[name] + (detail ? " \u2014 " + detail : "");
		document.documentElement.setAttribute("data-state", name);
		var busy = BUSY.indexOf(name) >= 0;
		this.send.disabled = busy;
		this.stop.disabled = !busy;
		this.newChat.disabled = busy;
		this.transcript.setAttribute("aria-busy", busy ? "true" : "false");
	};

	Page.prototype.notice = function (text) {
		var p = el("p", "notice", text);
		p.setAttribute("role", "note");
		this.transcript.parentNode.insertBefore(p, this.transcript);
	};

	Page.prototype.bind = function () {
		var self = this;
		this.form.addEventListener("submit", function (ev) {
			ev.preventDefault();
			self.start();
		});
		this.prompt.addEventListener("keydown", function (ev) {
			// Enter sends, Shift+Enter is a new line; never while an IME is composing.
			if (ev.key === "Enter" && !ev.shiftKey && !ev.altKey && !ev.ctrlKey && !ev.metaKey &&
					!ev.isComposing && ev.keyCode !== 229) {
				ev.preventDefault();
				if (!self.send.disabled) {
					self.start();
				}
			}
		});
		this.stop.addEventListener("click", function () {
			self.abort();
			self.prompt.focus();
		});
		document.addEventListener("keydown", function (ev) {
			if (ev.key === "Escape" && self.current) {
				ev.preventDefault();
				self.abort();
			}
		});
		this.newChat.addEventListener("click", function () {
			self.clear();
			self.prompt.focus();
		});
		window.addEventListener("pagehide", function (ev) {
			self.leave(ev);
		});
		window.addEventListener("pageshow", function (ev) {
			self.unloading = false;
			// Back from the back/forward cache in the middle of an answer: its
			// connection did not survive the freeze.  A reload continues it.
			if (ev.persisted && self.current) {
				location.reload();
			}
		});
	};

	/**
	 * The page goes away: a reload, another page in this tab, or the tab
	 * closing.  pagehide cannot tell these apart (it fires alike, persisted
	 * false, before each of them), and a plain DELETE now would stop the
	 * very answer a reload is about to continue.  So for a stream it has
	 * saved, the page says it leaves (DELETE ?leaving): chatstream stops
	 * the model unless a reader is back within leave_window (5 s).  A
	 * reload is back well within it and carries on; a closed tab is not,
	 * and the model stops then.  A stream the page could not save
	 * (sessionStorage off or full) is one no reload can continue: that one
	 * is stopped at once.  Either request outlives the page (keepalive;
	 * sendBeacon can only POST).  A page kept in the back/forward cache
	 * (persisted) may come back: nothing is sent then (see pageshow in
	 * bind()).
	 */
	Page.prototype.leave = function (ev) {
		var run = this.current;
		this.save();
		// What unloading does to the streams (an aborted fetch, a closed
		// EventSource) is not how the answer ended: keep the saved state.
		this.unloading = !ev.persisted;
		if (!run || run.finished || run.stopped || !run.url || ev.persisted) {
			return;
		}
		var url = new URL(run.url);
		if (this.store.ok) {
			url.searchParams.set("leaving", "");
		}
		try {
			fetch(url, { method: "DELETE", keepalive: true, cache: "no-store" }).catch(function () {});
		} catch (e) {
			/* the page is going away: nothing more to do */
		}
	};

	/**
	 * Keeps the conversation in the tab, unless the page is going away:
	 * now, or with soon a little later (tokens: a long conversation is
	 * not written whole for each one; pagehide writes what is pending).
	 */
	Page.prototype.save = function (soon) {
		var self = this;
		if (this.unloading) {
			return;
		}
		if (soon) {
			if (!this.saveTimer) {
				this.saveTimer = setTimeout(function () {
					self.save();
				}, SAVE_DELAY_MS);
			}
			return;
		}
		clearTimeout(this.saveTimer);
		this.saveTimer = 0;
		this.store.save(this.turns);
	};

	/** New chat: forgets the conversation (the page and the tab's storage). */
	Page.prototype.clear = function () {
		if (this.current) {
			return;
		}
		this.turns = [];
		this.store.clear();
		this.transcript.textContent = "";
		if (this.emptyNote) {
			this.transcript.appendChild(this.emptyNote);
		}
		this.setState("idle");
	};

	/** Shows the saved conversation again; a running answer carries on. */
	Page.prototype.restore = function () {
		var turns = this.store.load();
		if (!turns.length) {
			return;
		}
		var self = this;
		var running = null;
		turns.forEach(function (rec) {
			var ui = self.addTurn(rec.prompt, rec.model);
			ui.who.textContent = rec.who || rec.model || "model";
			ui.text.data = rec.text;
			ui.whyText.data = rec.reasoning;
			ui.why.hidden = rec.reasoning === "";
			showCalls(ui, rec);
			ui.stats.textContent = rec.stats;
			if (rec.title) {
				ui.stats.title = rec.title;
			}
			if (rec.streamId) {
				ui.turn.setAttribute("data-stream-id", rec.streamId);
			}
			if (BUSY.indexOf(rec.state) >= 0) {
				running = { rec: rec, ui: ui };
				rec.state = "reconnecting";
			} else if (rec.error) {
				ui.err.textContent = rec.error;
				ui.err.hidden = false;
			}
			ui.turn.setAttribute("data-state", rec.state || "done");
		});
		this.turns = turns;
		this.scrollDown(true);
		if (!running) {
			return;
		}
		var run = this.newRun(running.rec, running.ui);
		var url = null;
		try {
			url = running.rec.url ? new URL(running.rec.url) : null;
		} catch (e) {
			url = null;
		}
		this.current = run;
		if (!url || url.origin !== location.origin) {
			this.fail(run, "The page was reloaded before this answer could be continued.");
			this.current = null;
			return;
		}
		run.url = url;
		run.mode = "eventsource";
		run.lastEventId = running.rec.lastEventId;
		run.tokens = running.rec.tokens;
		this.turnState(run, "reconnecting");
		this.track(run, this.follow(run));
	};

	/** Fills the model picker: GET v1/models (OpenAI shape), else the models of GET health. */
	Page.prototype.loadModels = function () {
		var self = this;
		function getJSON(path) {
			return fetch(new URL(path, self.endpoint), { headers: { Accept: "application/json" }, cache: "no-store" })
				.then(function (r) {
					return r.ok ? r.json() : null;
				})
				.catch(function () {
					return null;
				});
		}
		function names(list) {
			return (Array.isArray(list) ? list : []).map(function (m) {
				return typeof m === "string" ? m : (m && (m.id || m.name)) || null;
			}).filter(function (m) {
				return typeof m === "string" && m !== "";
			});
		}
		return Promise.all([getJSON("v1/models"), getJSON("health")]).then(function (r) {
			var v1 = r[0], health = r[1];
			var list = names(v1 && v1.data);
			if (!list.length) {
				list = names(health && health.models);
			}
			var def = health && typeof health.default_model === "string" ? health.default_model : "";
			var sel = self.model;
			var keep = sel.value;
			sel.textContent = "";
			if (!list.length) {
				var o = el("option", null, "server default");
				o.value = "";
				sel.appendChild(o);
			}
			list.forEach(function (m) {
				var o = el("option", null, m === def ? m + " (default)" : m);
				o.value = m;
				sel.appendChild(o);
			});
			sel.value = list.indexOf(keep) >= 0 ? keep : (list.indexOf(def) >= 0 ? def : (list[0] || ""));
			sel.disabled = list.length < 2;
			var info = "Endpoint " + self.endpoint.pathname;
			if (health && typeof health.version === "string") {
				info = "chatstream " + health.version + " \u00b7 " + info;
			} else if (!health) {
				info += " \u00b7 health check failed";
			}
			self.serverInfo.textContent = info;
			document.documentElement.setAttribute("data-models", list.length ? "loaded" : "none");
		});
	};

	/** Adds one exchange (prompt + answer) to the transcript. */
	Page.prototype.addTurn = function (prompt, model) {
		var empty = this.transcript.querySelector(".empty");
		if (empty) {
			empty.remove();
		}
		var turn = el("article", "turn");
		turn.setAttribute("data-state", "connecting");
		var you = el("div", "msg user");
		you.appendChild(el("p", "who", "You"));
		you.appendChild(el("div", "bubble", prompt));
		var bot = el("div", "msg bot");
		var who = el("p", "who", model || "model");
		// The model's reasoning (event: reasoning), folded, before its answer.
		var why = el("details", "why");
		var whyText = document.createTextNode("");
		why.appendChild(el("summary", null, "Reasoning"));
		why.appendChild(el("div", "why-text")).appendChild(whyText);
		why.hidden = true;
		var answer = el("div", "bubble answer");
		var text = document.createTextNode("");
		answer.appendChild(text);
		// The tools it calls (event: tool_call), one line a call.
		var calls = el("pre", "calls");
		calls.hidden = true;
		var stats = el("p", "stats");
		var err = el("p", "error");
		err.setAttribute("role", "alert");
		err.hidden = true;
		bot.appendChild(who);
		bot.appendChild(why);
		bot.appendChild(answer);
		bot.appendChild(calls);
		bot.appendChild(err);
		bot.appendChild(stats);
		turn.appendChild(you);
		turn.appendChild(bot);
		this.transcript.appendChild(turn);
		return { turn: turn, who: who, answer: answer, text: text, stats: stats, err: err,
			why: why, whyText: whyText, calls: calls };
	};

	/** rec.calls (JSON text of [{name, arguments}]) as lines "name(arguments)". */
	function showCalls(ui, rec) {
		var calls = [];
		try {
			calls = JSON.parse(rec.calls || "[]");
		} catch (e) {
			calls = [];
		}
		ui.calls.textContent = calls.filter(Boolean).map(function (c) {
			return (c.name || "?") + "(" + (c.arguments || "") + ")";
		}).join("\n");
		ui.calls.hidden = ui.calls.textContent === "";
	}

	Page.prototype.scrollDown = function (force) {
		var root = document.scrollingElement || document.documentElement;
		var nearBottom = root.scrollHeight - root.scrollTop - root.clientHeight < 120;
		if (force || nearBottom) {
			root.scrollTop = root.scrollHeight;
		}
	};

	/**
	 * Stop.  An EventSource stream: DELETE its url (chatstream stops the
	 * model), then close it; the run ends as "stopped".  A fetch() stream
	 * (fallback): DELETE its resume url when it has one (a reader that
	 * leaves is not a cancel), then abort it.  While the POST is still on its way, the run is
	 * marked stopped and stream() finishes the job once the answer comes
	 * (DELETE a 202's url, abort a 200), or aborts the POST after a while.
	 */
	Page.prototype.abort = function () {
		var run = this.current;
		if (!run || run.stopped || run.finished) {
			return;
		}
		run.stopped = true;
		if (run.es) {
			this.cancelRemote(run).then(function () {
				run.endFollow();
			});
		} else if (run.mode === "fetch") {
			if (run.url) {
				this.cancelRemote(run).then(function () {
					run.ctrl.abort();
				});
			} else {
				run.ctrl.abort();
			}
		} else {
			run.stopTimer = setTimeout(function () {
				run.ctrl.abort();
			}, 3000);
		}
	};

	/** DELETE the stream's url; resolves (never rejects) when answered or failed. */
	Page.prototype.cancelRemote = function (run) {
		return fetch(run.url, { method: "DELETE", cache: "no-store" }).then(function (r) {
			run.deleteStatus = r.status;
		}, function () {
			run.deleteStatus = 0;
		});
	};

	Page.prototype.showStopped = function (run) {
		run.ui.stats.textContent = "Stopped after " + run.tokens + " token" +
			(run.tokens === 1 ? "" : "s") + "." +
			(run.deleteStatus !== undefined && run.deleteStatus !== 202 && run.deleteStatus !== 404 ?
				" The server did not confirm (" + (run.deleteStatus ? "HTTP " + run.deleteStatus :
					"network error") + ")." : "");
		run.rec.stats = run.ui.stats.textContent;
		this.turnState(run, "stopped");
	};

	/** A run: one answer being streamed into the turn rec (shown in ui). */
	Page.prototype.newRun = function (rec, ui) {
		return {
			rec: rec,
			ui: ui,
			ctrl: new AbortController(),
			mode: "",            // "eventsource" (202, or resumed) or "fetch" (200 event stream)
			url: null,           // the stream's url (202, or meta's "resume")
			es: null,            // its EventSource
			endFollow: null,     // closes es and ends the run
			stopped: false,
			finished: false,
			tokens: 0,
			lastEventId: ""
		};
	};

	/** The conversation so far and then prompt, as chat messages. */
	Page.prototype.messages = function (prompt) {
		var m = [];
		this.turns.forEach(function (t) {
			m.push({ role: "user", content: t.prompt });
			if (t.text !== "") {
				m.push({ role: "assistant", content: t.text });
			}
		});
		m.push({ role: "user", content: prompt });
		return m;
	};

	Page.prototype.start = function () {
		if (this.current) {
			return;
		}
		var prompt = this.prompt.value;
		if (prompt.trim() === "") {
			this.prompt.focus();
			return;
		}
		var body = { messages: this.messages(prompt) };
		if (this.model.value) {
			body.model = this.model.value;
		}
		var mt = this.maxTokens.value.trim();
		if (mt !== "") {
			body.max_tokens = Number(mt);
		}
		var rec = { prompt: prompt, model: body.model || "", who: "", text: "", state: "connecting",
			stats: "", title: "", error: "", streamId: "", url: "", lastEventId: "", tokens: 0,
			reasoning: "", calls: "" };
		var run = this.newRun(rec, this.addTurn(prompt, body.model));
		this.turns.push(rec);
		this.current = run;
		this.prompt.value = "";
		this.turnState(run, "connecting");
		this.scrollDown(true);
		this.track(run, this.stream(run, body));
	};

	/** Shows how the run ended once promise (stream() or follow()) settles. */
	Page.prototype.track = function (run, promise) {
		var self = this;
		promise.then(function () {
			if (run.finished) {
				return;
			}
			if (run.stopped) {
				self.showStopped(run);
			} else {
				self.fail(run, "The connection closed before the answer was complete.");
			}
		}, function (e) {
			if (run.finished) {
				return;          // done or error already came; a late Stop changes nothing
			}
			if (run.stopped || (e && e.name === "AbortError")) {
				self.showStopped(run);
			} else {
				self.fail(run, "Network error: " + (e && e.message ? e.message : String(e)));
			}
		}).then(function () {
			clearTimeout(run.stopTimer);
			if (run.es) {
				run.es.close();  // never leave the browser reconnecting
			}
			self.current = null;
			self.prompt.focus();
		});
	};

	Page.prototype.turnState = function (run, name, detail) {
		run.ui.turn.setAttribute("data-state", name);
		this.setState(name, detail);
		run.rec.state = name;
		this.save();
	};

	Page.prototype.fail = function (run, message) {
		run.finished = true;
		run.ui.err.textContent = message;
		run.ui.err.hidden = false;
		run.rec.error = message;
		this.turnState(run, "error");
	};

	/** A stream url chatstream gave (absolute or relative to the endpoint), if on this site. */
	Page.prototype.streamUrl = function (loc) {
		var url = null;
		try {
			url = loc ? new URL(loc, this.endpoint) : null;
		} catch (e) {
			url = null;
		}
		return url && url.origin === location.origin ? url : null;
	};

	/**
	 * POSTs the prompt.  202: follows the stream with EventSource.  200
	 * text/event-stream (a server without resumable streams): reads it with
	 * fetch().  Resolves when the run is over (finished, stopped or cut).
	 */
	Page.prototype.stream = async function (run, body) {
		var res = await fetch(this.endpoint, {
			method: "POST",
			headers: { "Content-Type": "application/json", Accept: "application/json" },
			body: JSON.stringify(body),
			cache: "no-store",
			signal: run.ctrl.signal
		});
		clearTimeout(run.stopTimer);
		if (res.status === 202) {
			var info = parseJSON(await res.text()) || {};
			var loc = typeof info.url === "string" ? info.url : res.headers.get("Location");
			var url = this.streamUrl(loc);
			if (!url) {
				this.fail(run, "The server accepted the request but gave no usable stream URL (" +
					(loc || "none") + ").");
				return;
			}
			run.url = url;
			run.rec.url = url.href;
			run.mode = "eventsource";
			if (typeof info.id === "string") {
				run.ui.turn.setAttribute("data-stream-id", info.id);
				run.rec.streamId = info.id;
			}
			this.save();
			if (run.stopped) {
				await this.cancelRemote(run);   // Stop came while the POST was on its way
				return;
			}
			await this.follow(run);
			return;
		}
		run.mode = "fetch";
		if (run.stopped) {
			run.ctrl.abort();
			return;
		}
		if (!res.ok) {
			var txt = await res.text();
			var msg = errorText(parseJSON(txt)) || txt.trim().slice(0, 300) || res.statusText;
			var ra = res.headers.get("Retry-After");
			this.fail(run, "HTTP " + res.status + " \u00b7 " + msg +
				(ra ? " (try again in " + ra + " s)" : ""));
			return;
		}
		var ctype = res.headers.get("Content-Type") || "";
		if (ctype.split(";")[0].trim().toLowerCase() !== "text/event-stream") {
			this.fail(run, "Expected an event stream, got " + (ctype || "no Content-Type") + ".");
			return;
		}
		this.turnState(run, "streaming");
		var self = this;
		var parser = new SSEParser({
			onEvent: function (ev) {
				run.lastEventId = ev.lastEventId;
				self.onEvent(run, ev);
			}
		});
		var reader = res.body.getReader();
		var decoder = new TextDecoder("utf-8");
		try {
			for (;;) {
				var r = await reader.read();
				if (r.done) {
					break;
				}
				parser.feed(decoder.decode(r.value, { stream: true }));
				if (run.finished) {
					await reader.cancel();    // done or error came: nothing more to read
					break;
				}
			}
			parser.feed(decoder.decode());
		} finally {
			parser.end();
		}
	};

	/**
	 * Reads the stream at run.url with the browser's EventSource.  Resolves
	 * once done or error came (the EventSource is closed then, so the
	 * browser stops reconnecting), when Stop has been answered, or when the
	 * stream cannot be reached any more.
	 *
	 * The browser reconnects by itself after a network error (readyState
	 * CONNECTING), with Last-Event-ID.  It gives up for good on any HTTP
	 * status but 200 (readyState CLOSED), e.g. a 502 or 503 from a front
	 * server while chatstream restarts; the page then opens a new
	 * EventSource itself, with ?last_event_id= the last id it has, up to
	 * REOPEN_TRIES times in a row, waiting a little longer each time.
	 */
	var REOPEN_TRIES = 5;

	Page.prototype.follow = function (run) {
		var self = this;
		var failures = 0;
		return new Promise(function (resolve) {
			run.endFollow = function () {
				clearTimeout(run.reopenTimer);
				if (run.es) {
					run.es.close();
				}
				resolve();
			};
			function relay(type) {
				return function (ev) {
					run.lastEventId = ev.lastEventId;
					self.onEvent(run, { type: type, data: ev.data, lastEventId: ev.lastEventId });
					if (run.finished) {
						run.endFollow();
					}
				};
			}
			function open() {
				var url = new URL(run.url.href);
				if (run.lastEventId !== "") {
					url.searchParams.set("last_event_id", run.lastEventId);
				}
				var es = new EventSource(url.href);
				run.es = es;
				es.onopen = function () {
					failures = 0;
					if (!run.finished && !run.stopped) {
						self.turnState(run, "streaming");
					}
				};
				es.addEventListener("meta", relay("meta"));
				es.addEventListener("message", relay("message"));
				es.addEventListener("reasoning", relay("reasoning"));
				es.addEventListener("tool_call", relay("tool_call"));
				es.addEventListener("refusal", relay("refusal"));
				es.addEventListener("done", relay("done"));
				es.addEventListener("error", function (ev) {
					if (typeof ev.data === "string") {
						relay("error")(ev);        // the server's event: error
						run.endFollow();
						return;
					}
					// The connection failed.
					if (run.finished || run.stopped || es !== run.es) {
						return;
					}
					self.turnState(run, "reconnecting");
					if (es.readyState === EventSource.CONNECTING) {
						return;                    // the browser retries by itself
					}
					es.close();
					if (++failures > REOPEN_TRIES) {
						run.endFollow();           // give up: the run ends as cut
						return;
					}
					run.reopenTimer = setTimeout(open, 1000 * failures);
				});
			}
			open();
		});
	};

	Page.prototype.onEvent = function (run, ev) {
		if (run.finished || run.stopped) {
			return;              // nothing shows after done, error or Stop
		}
		var d = parseJSON(ev.data);
		var rec = run.rec;
		rec.lastEventId = ev.lastEventId;
		if (ev.type === "reasoning") {
			if (d && typeof d.text === "string") {
				run.ui.whyText.appendData(d.text);
				run.ui.why.hidden = false;
				rec.reasoning += d.text;
			}
		} else if (ev.type === "tool_call") {
			if (d && typeof d.index === "number" && d.index >= 0 && d.index < 128) {
				var calls = [];
				try {
					calls = JSON.parse(rec.calls || "[]");
				} catch (e) {
					calls = [];
				}
				var c = calls[d.index] || { name: "", arguments: "" };
				if (typeof d.name === "string") {
					c.name = d.name;
				}
				c.arguments += typeof d.arguments === "string" ? d.arguments : "";
				calls[d.index] = c;
				rec.calls = JSON.stringify(calls);
				showCalls(run.ui, rec);
			}
		} else if (ev.type === "message" || ev.type === "refusal") {
			if (d && typeof d.text === "string") {
				run.ui.text.appendData(d.text);
				rec.text += d.text;
				rec.tokens = ++run.tokens;
				this.scrollDown(false);
			}
		} else if (ev.type === "meta") {
			if (d && typeof d.model === "string") {
				run.ui.who.textContent = d.model;
				rec.who = d.model;
			}
			if (d && typeof d.id === "string") {
				run.ui.turn.setAttribute("data-stream-id", d.id);
				rec.streamId = d.id;
			}
			// a stream POSTed without 202 can still be stopped and resumed there
			var url = d && !run.url && typeof d.resume === "string" ? this.streamUrl(d.resume) : null;
			if (url) {
				run.url = url;
				rec.url = url.href;
			}
		} else if (ev.type === "done") {
			run.finished = true;
			this.showStats(run, d || {});
			this.turnState(run, "done");
		} else if (ev.type === "error") {
			this.fail(run, errorText(d) || "The model reported an error.");
		}
		this.save(["message", "reasoning", "tool_call", "refusal"].indexOf(ev.type) >= 0);
	};

	Page.prototype.showStats = function (run, d) {
		var parts = [];
		var ttft = fmtMs(d.ttft_ms);
		var dur = fmtMs(d.duration_ms);
		if (ttft) {
			parts.push("first token " + ttft);
		}
		if (dur) {
			parts.push(dur);
		}
		var u = d.usage && typeof d.usage === "object" ? d.usage : null;
		if (u && typeof u.completion_tokens === "number") {
			parts.push(u.completion_tokens + " token" + (u.completion_tokens === 1 ? "" : "s"));
			run.ui.stats.title = "prompt " + u.prompt_tokens + " \u00b7 completion " +
				u.completion_tokens + " \u00b7 total " + u.total_tokens + " tokens";
		}
		if (d.finish_reason === "length") {
			parts.push("cut at max tokens");
		} else if (d.finish_reason && d.finish_reason !== "stop") {
			parts.push(String(d.finish_reason));
		}
		run.ui.stats.textContent = parts.join(" \u00b7 ");
		run.rec.stats = run.ui.stats.textContent;
		run.rec.title = run.ui.stats.title;
	};

	window.chatstream = { SSEParser: SSEParser };

	if (document.readyState === "loading") {
		document.addEventListener("DOMContentLoaded", function () {
			window.chatstream.page = new Page();
		});
	} else {
		window.chatstream.page = new Page();
	}
}());
