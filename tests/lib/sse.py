# SPDX-License-Identifier: ISC
"""sse.py: an incremental Server-Sent Events parser, written from the WHATWG HTML
"server-sent events" parsing rules (section "Parsing an event stream" and
"Interpreting an event stream"), not from chatstream's encoder.

What it implements, rule by rule:
  - the stream is decoded as UTF-8 with an incremental decoder; malformed
    bytes become U+FFFD (errors='replace'); one leading U+FEFF (BOM) is
    stripped, only at the very start of the stream;
  - lines end with CRLF, LF or CR; a CR ending one chunk may be followed by
    the LF of the same line ending at the start of the next chunk;
  - a line starting with ':' is a comment (recorded with its arrival time,
    so tests can see heartbeats);
  - "field:value" (one leading space of the value dropped), or a line without
    a colon is a field with an empty value;
  - fields: data (appended, followed by LF), event, id (ignored when it
    contains NUL; the last event ID buffer persists across events), retry
    (only when all ASCII digits); any other field is ignored (but recorded);
  - a blank line dispatches: an empty data buffer dispatches nothing (the
    event type buffer is reset), else one trailing LF is removed from the data;
  - at end of stream any pending, unterminated event is discarded.

Limits: no network, no reconnection logic; the "origin" is not modelled.
Each dispatched event records the time.monotonic() of the feed() call whose
chunk completed it (or the time the caller passes).
"""

import codecs
import time

__all__ = ["Event", "Comment", "SSEParser", "parse_all"]


class Event:
    """One dispatched event.  type: event type ("message" by default); data:
    the data buffer (trailing LF removed); last_event_id: the last event ID
    string at dispatch time; fields: every (name, value) line that went into
    this event, known or not, in order; time: arrival time (monotonic)."""

    __slots__ = ("type", "data", "last_event_id", "fields", "time", "index")

    def __init__(self, type_, data, last_event_id, fields, t, index):
        self.type = type_
        self.data = data
        self.last_event_id = last_event_id
        self.fields = fields
        self.time = t
        self.index = index

    @property
    def id(self):
        return self.last_event_id

    def __repr__(self):
        return "Event(type=%r, id=%r, data=%r)" % (self.type, self.last_event_id, self.data)


class Comment:
    """One comment line: text after the ':' (verbatim) and its arrival time."""

    __slots__ = ("text", "time", "after_events")

    def __init__(self, text, t, after_events):
        self.text = text
        self.time = t
        self.after_events = after_events    # number of events dispatched before it

    def __repr__(self):
        return "Comment(%r)" % (self.text,)


class SSEParser:
    """Feed bytes with feed(chunk[, t]); call close() at end of stream.

    Results: events (list of Event), comments (list of Comment), retry (last
    reconnection time set, or None), retries (every accepted retry value with
    its time), ignored_fields (unknown field names with the value), lines
    (count of lines processed)."""

    def __init__(self):
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._bom_checked = False
        self._pending_cr = False     # last chunk ended with CR: skip one LF
        self._line = []              # pieces of the current, unfinished line
        self._data = ""
        self._event_type = ""
        self._last_id_buffer = ""
        self._fields = []
        self.last_event_id = ""      # the EventSource's last event ID string
        self.events = []
        self.comments = []
        self.retry = None
        self.retries = []
        self.ignored_fields = []
        self.lines = 0
        self.bytes = 0
        self.closed = False
        self.discarded_at_eof = None  # fields of an unterminated event, if any

    # -- input -------------------------------------------------------------
    def feed(self, chunk, t=None):
        """Parses chunk (bytes); returns the list of events it completed."""
        if self.closed:
            raise ValueError("feed() after close()")
        if t is None:
            t = time.monotonic()
        self.bytes += len(chunk)
        text = self._decoder.decode(chunk, final=False)
        return self._text(text, t)

    def close(self, t=None):
        """End of stream: flushes the decoder and discards an unterminated
        event (and an unterminated last line).  Returns [] always."""
        if self.closed:
            return []
        if t is None:
            t = time.monotonic()
        text = self._decoder.decode(b"", final=True)
        self._text(text, t)
        self.closed = True
        if self._line or self._data or self._event_type or self._fields:
            self.discarded_at_eof = list(self._fields)
        self._line = []
        self._data = ""
        self._event_type = ""
        self._fields = []
        return []

    # -- internals ---------------------------------------------------------
    def _text(self, text, t):
        if not text:
            return []
        if not self._bom_checked:
            self._bom_checked = True
            if text[0] == "\ufeff":
                text = text[1:]
        done = []
        i = 0
        n = len(text)
        if self._pending_cr and n:
            self._pending_cr = False
            if text[0] == "\n":
                i = 1
        while i < n:
            # find the next CR or LF
            j_cr = text.find("\r", i)
            j_lf = text.find("\n", i)
            if j_cr < 0 and j_lf < 0:
                self._line.append(text[i:])
                break
            if j_cr < 0 or (0 <= j_lf < j_cr):
                j = j_lf
                nxt = j + 1
            else:
                j = j_cr
                if j + 1 < n:
                    nxt = j + 2 if text[j + 1] == "\n" else j + 1
                else:
                    nxt = j + 1
                    self._pending_cr = True   # a LF may start the next chunk
            self._line.append(text[i:j])
            line = "".join(self._line)
            self._line = []
            ev = self._process_line(line, t)
            if ev is not None:
                done.append(ev)
            i = nxt
        return done

    def _process_line(self, line, t):
        self.lines += 1
        if line == "":
            return self._dispatch(t)
        if line[0] == ":":
            self.comments.append(Comment(line[1:], t, len(self.events)))
            return None
        k = line.find(":")
        if k >= 0:
            name = line[:k]
            value = line[k + 1:]
            if value.startswith(" "):
                value = value[1:]
        else:
            name = line
            value = ""
        self._fields.append((name, value))
        if name == "event":
            self._event_type = value
        elif name == "data":
            self._data += value + "\n"
        elif name == "id":
            if "\x00" not in value:
                self._last_id_buffer = value
        elif name == "retry":
            if value != "" and all("0" <= ch <= "9" for ch in value):
                self.retry = int(value, 10)
                self.retries.append((self.retry, t))
        else:
            self.ignored_fields.append((name, value))
        return None

    def _dispatch(self, t):
        self.last_event_id = self._last_id_buffer
        fields = self._fields
        self._fields = []
        if self._data == "":
            self._event_type = ""
            return None
        data = self._data
        if data.endswith("\n"):
            data = data[:-1]
        ev = Event(self._event_type or "message", data, self.last_event_id,
                   fields, t, len(self.events))
        self.events.append(ev)
        self._data = ""
        self._event_type = ""
        return ev


def parse_all(data, chunk_size=None):
    """Parses a complete byte string (optionally fed in chunk_size pieces);
    returns the closed parser."""
    p = SSEParser()
    if chunk_size:
        for k in range(0, len(data), chunk_size):
            p.feed(data[k:k + chunk_size])
    else:
        p.feed(data)
    p.close()
    return p
