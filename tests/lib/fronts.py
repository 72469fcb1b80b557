# SPDX-License-Identifier: ISC
"""fronts.py: the front servers: lighttpd with the shipped snippet (Lighttpd),
and Apache httpd, nginx or lighttpd with a test's own lines (Apache, Nginx,
LighttpdConf), each started in the foreground on a free loopback port with
a generated config in the temp dir that includes the conf/ snippet under
test.
"""

import json
import os
import shutil
import signal
import subprocess
import time

from clients import http_request
from logs import read_text
from procs import _popen, _stop, free_port
from tap import bail, skip_all
from testenv import CHATSTREAM, CURL, LIGHTTPD, MOUNT, SPAWN_FCGI, SRCDIR, scaled


APACHE2 = os.environ.get("APACHE2") or "/usr/sbin/apache2"
APACHE_MODULES = os.environ.get("APACHE_MODULES") or "/usr/lib/apache2/modules"
APACHE_MIME_TYPES = os.environ.get("APACHE_MIME_TYPES") or "/etc/mime.types"
NGINX = os.environ.get("NGINX") or "/usr/sbin/nginx"
NGINX_FASTCGI_PARAMS = os.environ.get("NGINX_FASTCGI_PARAMS") or "/etc/nginx/fastcgi_params"
# the unprivileged user the front servers' workers run as (Debian's)
WEB_USER = os.environ.get("WEB_USER") or "www-data"


def executable(path):
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def require_front(*paths):
    """Skips the whole file when one of paths (a front server's binary or
    module) or curl/spawn-fcgi is missing; bails out when the chatstream
    binary or a shipped snippet is missing (a failure, not a skip)."""
    missing = [p for p in list(paths) + [CURL, SPAWN_FCGI] if not os.path.exists(p)]
    if missing:
        skip_all("missing: " + ", ".join(missing))
    if not executable(CHATSTREAM):
        bail("chatstream binary not found or not executable: %s (set CHATSTREAM)" % CHATSTREAM)


def snippet_path(name):
    """SRCDIR/conf/NAME; bails out when it is not there."""
    p = os.path.join(SRCDIR, "conf", name)
    if not os.path.isfile(p):
        bail("shipped snippet not found: %s (set SRCDIR)" % p)
    return p


def web_user_ids():
    """(uid, gid) of WEB_USER, or None when there is no such user."""
    import pwd
    try:
        pw = pwd.getpwnam(WEB_USER)
    except KeyError:
        return None
    return pw.pw_uid, pw.pw_gid


def share_with_web_user(fx, *paths):
    """Lets the front server's unprivileged workers reach the temp dir (0755)
    and each of paths (sockets, scripts: 0666/0755 as fits).  The temp dir
    holds only throw-away test files."""
    os.chmod(fx.tmp, 0o755)
    for p in paths:
        if os.path.isdir(p):
            os.chmod(p, 0o777)
        elif os.access(p, os.X_OK):
            os.chmod(p, 0o755)
        else:
            os.chmod(p, 0o666)


def wait_http(port, proc, target="/index.html", timeout=10):
    """GET target on 127.0.0.1:port until it answers 200 (bounded);
    (True, None) or (False, why)."""
    timeout = scaled(timeout)
    end = time.monotonic() + timeout
    last = None
    for _ in range(int(timeout / 0.05) + 2):
        if proc.poll() is not None:
            return False, "exited with status %s" % proc.returncode
        try:
            st, _, _ = http_request(port, "GET", target, timeout=2)
            if st == 200:
                return True, None
            last = "status %s" % st
        except OSError as e:
            last = str(e)
        if time.monotonic() > end:
            break
        time.sleep(0.05)
    return False, last


class WebServer:
    """What the front-server fixtures below share: start the server on a free
    loopback port (bounded retries), its URLs, its logs, stop.  Subclasses set
    self.dir, conf, stderr, errorlog, mount, fx, and provide _write_conf(port)
    and _argv()."""

    stop_wait = 5

    def _make_dir(self, fx, name, mount, conf, subdirs=("www",)):
        """DIR = fx.path(name) with subdirs and a www/index.html to probe;
        the config (named conf), error log and stderr files are in DIR."""
        self.fx = fx
        self.name = name
        self.mount = mount
        self.dir = fx.path(name)
        for sub in subdirs:
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        with open(os.path.join(self.dir, "www", "index.html"), "w") as f:
            f.write("ok\n")
        self.conf = os.path.join(self.dir, conf)
        self.errorlog = os.path.join(self.dir, "error.log")
        self.stderr = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.port = None

    def start(self, tries=3):
        last = None
        for _ in range(tries):
            port = free_port()
            self._write_conf(port)
            with open(self.stderr, "ab") as errf:
                proc = _popen(self._argv(), cwd=self.dir,
                              stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)
            self.fx._procs.append(proc)
            ok_, last = wait_http(port, proc)
            if ok_:
                self.proc, self.port = proc, port
                return True, None
            _stop(proc, signal.SIGTERM, wait=5)
        return False, "%s; %s" % (last, read_text(self.stderr)[-800:] + read_text(self.errorlog)[-800:])

    def url(self, path="", mount=None):
        return "http://127.0.0.1:%d%s%s" % (self.port, self.mount if mount is None else mount,
                                            path)

    def log_text(self):
        return read_text(self.errorlog)

    def logs(self):
        return [self.errorlog, self.stderr]

    def stop(self):
        return _stop(self.proc, signal.SIGTERM, wait=self.stop_wait)


class Lighttpd(WebServer):
    """lighttpd -D -f generated.conf on 127.0.0.1:PORT, mounting chatstream
    at /chat/ through `include SRCDIR/conf/lighttpd-chatstream.conf`.
    extra: more lines for the generated config (e.g. index-file.names).
    The document root is fx.path("www"); start() probes its /index.html, a
    placeholder unless the test put its own there first.  Put the files
    there before start(), never replace one afterwards: lighttpd's stat
    cache keeps a file's old size for about a second, and serves that many
    bytes of the new content."""

    def __init__(self, fx, chatstream_socket, extra=()):
        self.fx = fx
        self.name = "lighttpd"
        self.mount = MOUNT
        self.dir = fx.tmp
        self.proc = None
        self.port = None
        www = fx.path("www")
        os.makedirs(www, exist_ok=True)
        os.makedirs(fx.path("upload"), exist_ok=True)
        index = os.path.join(www, "index.html")
        if not os.path.exists(index):
            with open(index, "w") as f:
                f.write("ok\n")
        self.errorlog = fx.path("lighttpd-error.log")
        self.stderr = fx.path("lighttpd.stderr")
        self.snippet = os.path.join(SRCDIR, "conf", "lighttpd-chatstream.conf")
        self.socket = chatstream_socket
        self.conf = fx.path("lighttpd.conf")
        self.extra = list(extra)

    def _write_conf(self, port):
        q = json.dumps    # lighttpd strings take the same escapes for plain paths
        text = "\n".join([
            "# generated by tests/lib/fronts.py",
            "server.bind = \"127.0.0.1\"",
            "server.port = %d" % port,
            "server.document-root = %s" % q(self.fx.path("www")),
            "server.errorlog = %s" % q(self.errorlog),
            "server.upload-dirs = ( %s )" % q(self.fx.path("upload")),
            "var.chatstream_mount = %s" % q(MOUNT.rstrip("/")),
            "var.chatstream_socket = %s" % q(self.socket),
            "include %s" % q(self.snippet),
        ] + self.extra + [""])
        with open(self.conf, "w") as f:
            f.write(text)

    def _argv(self):
        return [LIGHTTPD, "-D", "-f", self.conf]


class Apache(WebServer):
    """`apache2 -D FOREGROUND -f generated.conf`: its own ServerRoot,
    DefaultRuntimeDir, PidFile and ErrorLog in DIR (a subdirectory of the
    temp dir), Listen 127.0.0.1:PORT, `User WEB_USER`, `<Directory />
    Require all denied` as Debian has it, only the modules named (e.g.
    "mpm_event", "authz_core", "proxy", "proxy_fcgi"), then body: the
    test's lines, typically Defines and an Include of the shipped snippet.
    body may hold {port} and {dir}.  url(path, mount) is http://127.0.0.1:PORT
    + mount + path."""

    def __init__(self, fx, modules, body, name="apache", mount=MOUNT, loglevel="info"):
        self._make_dir(fx, name, mount, "httpd.conf")
        self.modules = list(modules)
        self.body = body
        self.loglevel = loglevel

    def module_paths(self):
        return [os.path.join(APACHE_MODULES, "mod_%s.so" % m) for m in self.modules]

    def _write_conf(self, port):
        d = self.dir
        lines = [
            "# generated by tests/lib/fronts.py (Apache fixture)",
            'ServerRoot "%s"' % d,
            'DefaultRuntimeDir "%s"' % d,
            'PidFile "%s/httpd.pid"' % d,
            'ErrorLog "%s"' % self.errorlog,
            "LogLevel %s" % self.loglevel,
            "Listen 127.0.0.1:%d" % port,
            "ServerName 127.0.0.1",
            "User %s" % WEB_USER,
            "Group %s" % WEB_USER,
        ]
        lines += ['LoadModule %s_module "%s"' % (m, p)
                  for m, p in zip(self.modules, self.module_paths())]
        if "mime" in self.modules:
            lines.append('TypesConfig "%s"' % APACHE_MIME_TYPES)
        lines += [
            'DocumentRoot "%s/www"' % d,
            "<Directory />",
            "    AllowOverride None",
            "    Require all denied",
            "</Directory>",
            '<Directory "%s/www">' % d,
            "    Require all granted",
            "</Directory>",
            "",
            self.body.replace("{port}", str(port)).replace("{dir}", d),
            "",
        ]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines))

    def check_syntax(self):
        """apache2 -t on the generated config: (ok, output)."""
        self._write_conf(self.port or 8)
        p = subprocess.run([APACHE2, "-t", "-f", self.conf], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        return p.returncode == 0, p.stdout.decode("utf-8", "replace")

    # SIGTERM: the parent stops its children (and mod_fcgid's processes)
    stop_wait = 8

    def _argv(self):
        return [APACHE2, "-D", "FOREGROUND", "-f", self.conf]


class Nginx(WebServer):
    """`nginx -p DIR -c DIR/nginx.conf -e DIR/error.log -g 'daemon off;'`:
    master + 1 worker as WEB_USER, pid, logs and temp paths in DIR, a copy
    of Debian's stock fastcgi_params next to the config (so the snippet's
    `include fastcgi_params;` finds the same file it finds in /etc/nginx),
    http_body inside http {} (e.g. the upstream the snippet names) and
    server_body inside server { listen 127.0.0.1:PORT; } (e.g. an include
    of the snippet).  Both may hold {port} and {dir}."""

    def __init__(self, fx, http_body, server_body, name="nginx", mount=MOUNT):
        self._make_dir(fx, name, mount, "nginx.conf", ("www", "tmp", "logs"))
        self.http_body = http_body
        self.server_body = server_body
        shutil.copyfile(NGINX_FASTCGI_PARAMS, os.path.join(self.dir, "fastcgi_params"))

    def _write_conf(self, port):
        d = self.dir

        def sub(t):
            return t.replace("{port}", str(port)).replace("{dir}", d)

        tmp = os.path.join(d, "tmp")
        text = "\n".join([
            "# generated by tests/lib/fronts.py (nginx fixture)",
            "user %s;" % WEB_USER,
            "worker_processes 1;",
            "pid %s/nginx.pid;" % d,
            "error_log %s info;" % self.errorlog,
            "events { worker_connections 1024; }",
            "http {",
            "    access_log %s/access.log;" % d,
            "    default_type application/octet-stream;",
            "    client_body_temp_path %s/body;" % tmp,
            "    fastcgi_temp_path %s/fastcgi;" % tmp,
            "    proxy_temp_path %s/proxy;" % tmp,
            "    uwsgi_temp_path %s/uwsgi;" % tmp,
            "    scgi_temp_path %s/scgi;" % tmp,
            sub(self.http_body),
            "    server {",
            "        listen 127.0.0.1:%d;" % port,
            "        server_name localhost;",
            "        root %s/www;" % d,
            sub(self.server_body),
            "    }",
            "}",
            "",
        ])
        with open(self.conf, "w") as f:
            f.write(text)

    # SIGTERM is nginx's fast shutdown (SIGQUIT would wait for open streams)
    def _argv(self):
        return [NGINX, "-p", self.dir, "-c", self.conf, "-e", self.errorlog,
                "-g", "daemon off;"]


class LighttpdConf(WebServer):
    """`lighttpd -D -f generated.conf` on 127.0.0.1:PORT with body (the
    test's lines: vars and an include of a shipped snippet; may hold {port}
    and {dir}) -- for setups the Lighttpd fixture above does not cover
    (bin-path, other mounts, other timeouts)."""

    def __init__(self, fx, body, name="lighttpd", mount=MOUNT):
        self._make_dir(fx, name, mount, "lighttpd.conf", ("www", "upload"))
        self.body = body

    def _write_conf(self, port):
        d = self.dir
        q = json.dumps
        text = "\n".join([
            "# generated by tests/lib/fronts.py (LighttpdConf fixture)",
            'server.bind = "127.0.0.1"',
            "server.port = %d" % port,
            "server.document-root = %s" % q(os.path.join(d, "www")),
            "server.errorlog = %s" % q(self.errorlog),
            "server.upload-dirs = ( %s )" % q(os.path.join(d, "upload")),
            self.body.replace("{port}", str(port)).replace("{dir}", d),
            "",
        ])
        with open(self.conf, "w") as f:
            f.write(text)

    def _argv(self):
        return [LIGHTTPD, "-D", "-f", self.conf]

    def log_text(self):
        # lighttpd -D passes the stderr of what it spawns (bin-path) to its own
        return read_text(self.errorlog) + read_text(self.stderr)
