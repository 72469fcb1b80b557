# SPDX-License-Identifier: ISC
"""pageserver.py: a tiny static page on its own loopback port, so that a
browser test has a page of another origin than chatstream's (another port
is another origin).  PageServer(html) serves html at "/" (and 404 for
anything else) from a thread; url is its address; close() stops it."""

import http.server
import threading


class PageServer:
    def __init__(self, html):
        body = html.encode("utf-8")

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._srv.daemon_threads = True
        self.port = self._srv.server_address[1]
        self.origin = "http://127.0.0.1:%d" % self.port
        self.url = self.origin + "/"
        self._thread = threading.Thread(target=self._srv.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self):
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(timeout=5)
