#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_deb.py: the Debian package, built, installed, served from, removed and
purged.  Needs root and changes the system (it installs and purges the
chatstream package, and purges one left installed before it starts), so
scripts/test-all.sh runs it after `make check`; it is not part of `make check`.

The source: DEB_SOURCE, a release tarball (`make dist`), else the tree at
SRCDIR as `git ls-files` lists it (committed and uncommitted work, no build
products).  Steps:
  build    dpkg-buildpackage -us -uc -b in a temp copy, without network
           (in a network namespace of its own when unshare(1) can make one);
           the test suite does not run in it;
  lintian  no error (warnings are listed);
  install  apt-get install ./chatstream_*.deb: every file where it belongs,
           the configuration a conffile, the units name the installed paths
           and pass `systemd-analyze verify`;
  serve    chatstream as the installed unit says: its ExecStart under
           spawn-fcgi, DynamicUser= as nobody, StateDirectory= as
           /var/lib/chatstream (0700, nobody's, passed in STATE_DIRECTORY) --
           or, when systemd runs (PID 1), the installed chatstream.socket
           itself; lighttpd (on a free loopback port) includes the installed
           lighttpd snippet and serves the installed chat page; a stream is
           exact and resumable from the journal in /var/lib/chatstream;
  remove   apt-get remove: the binary gone, the conffile kept; apt-get purge:
           no file with "chatstream" in its name left under /etc, /usr, /lib,
           /var, /run, /opt or /srv that was not there before the install,
           no user made, the package unknown to dpkg."""

import glob
import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (LIGHTTPD, SPAWN_FCGI, SRCDIR, CurlStream, FrontFixture,  # noqa: E402
                     LighttpdConf, _popen, bail, check_stream, demo_text, diag, is_,
                     like, ok, read_text, run, skip, skip_all)

PKG = "chatstream"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
UNITS = "/lib/systemd/system"
EXAMPLES = "/usr/share/doc/chatstream/examples"
WWW = "/usr/share/chatstream/www"
STATE = "/var/lib/chatstream"
SCAN = ["/etc", "/usr", "/lib", "/var", "/run", "/opt", "/srv"]
SCAN_SKIP = ("/usr/local", "/var/tmp", "/var/cache/apt")   # never the package's
EXPECTED = [
    "/usr/bin/chatstream",
    "/etc/chatstream/chatstream.conf",
    UNITS + "/chatstream.service",
    UNITS + "/chatstream.socket",
    "/usr/share/man/man1/chatstream.1.gz",
    "/usr/share/man/man5/chatstream.conf.5.gz",
    WWW + "/index.html", WWW + "/app.js", WWW + "/app.css",
    EXAMPLES + "/lighttpd-chatstream.conf",
    EXAMPLES + "/lighttpd-chatstream-binpath.conf",
    EXAMPLES + "/apache-proxy-fcgi.conf",
    EXAMPLES + "/apache-fcgid.conf",
    EXAMPLES + "/apache-cgi.conf",
    EXAMPLES + "/nginx-chatstream.conf",
    "/usr/share/doc/chatstream/copyright",
]
q = json.dumps


def sh(argv, log=None, timeout=1800, **kw):
    """Runs argv; (returncode, output).  The output also goes to log."""
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout, **kw)
    out = p.stdout.decode("utf-8", "replace")
    if log:
        with open(log, "a") as f:
            f.write("$ %s\n%s\n" % (" ".join(argv), out))
    return p.returncode, out


def apt(*args, log=None):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return sh(["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300"] + list(args),
              log=log, env=env)


def status():
    """dpkg's status of the package ("install ok installed", ...), or None."""
    rc, out = sh(["dpkg-query", "-W", "-f=${Status}", PKG])
    return out.strip() if rc == 0 and out.strip() else None


def leftovers():
    """Every path with "chatstream" in its name under SCAN (but SCAN_SKIP)."""
    found = set()
    for top in SCAN:
        for root, dirs, files in os.walk(top):
            if root.startswith(SCAN_SKIP):
                dirs[:] = []
                continue
            dirs[:] = [d for d in dirs if not os.path.join(root, d).startswith("/proc")]
            for n in dirs + files:
                if "chatstream" in n.lower():
                    found.add(os.path.join(root, n))
    return found


def copy_source(fx):
    """The source tree to build, unpacked in the temp dir; its path."""
    dest = fx.path("build")
    os.makedirs(dest)
    tarball = os.environ.get("DEB_SOURCE")
    if tarball:
        diag("source: %s" % tarball)
        with tarfile.open(tarball) as t:
            top = {m.name.split("/", 1)[0] for m in t.getmembers()}
            if len(top) != 1:
                bail("%s does not hold one top directory" % tarball)
            t.extractall(dest)
        return os.path.join(dest, top.pop())
    rc, out = sh(["git", "-C", SRCDIR, "ls-files", "-z", "--cached", "--others",
                  "--exclude-standard"])
    if rc != 0:
        bail("no DEB_SOURCE and %s is not a git checkout: %s" % (SRCDIR, out[-300:]))
    src = os.path.join(dest, "chatstream")
    n = 0
    for rel in out.split("\0"):
        p = os.path.join(SRCDIR, rel)
        if not rel or not os.path.isfile(p) or os.path.islink(p):
            continue
        os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
        shutil.copy2(p, os.path.join(src, rel))
        n += 1
    diag("source: the working tree at %s (%d files)" % (SRCDIR, n))
    return src


def build(fx, src):
    """dpkg-buildpackage -us -uc -b in src, offline when possible; the .deb."""
    log = fx.path("build.log")
    argv = ["dpkg-buildpackage", "-us", "-uc", "-b"]
    offline = sh(["unshare", "-n", "true"])[0] == 0
    if offline:
        argv = ["unshare", "-n", "--"] + argv
    else:
        diag("unshare -n is not allowed here: the build runs with the network")
    env = dict(os.environ)
    env.pop("DEB_BUILD_OPTIONS", None)
    rc, out = sh(argv, log=log, cwd=src, env=env)
    debs = glob.glob(os.path.join(os.path.dirname(src), "chatstream_*.deb"))
    ok(rc == 0 and len(debs) == 1, "dpkg-buildpackage -us -uc -b makes chatstream_*.deb%s (rc %d)"
       % (" without network" if offline else "", rc))
    if rc != 0 or len(debs) != 1:
        diag(out[-3000:])
        bail("the package did not build (log: %s)" % log)
    ok("# TOTAL:" not in out and "PASS: " not in out, "... and the test suite did not run in it")
    with open(os.path.join(src, "debian", "changelog")) as f:
        version = f.readline().split("(", 1)[1].split(")", 1)[0]
    with open(os.path.join(src, "configure.ac")) as f:
        ac = f.read()
    like(ac, r"AC_INIT\(\[chatstream\], \[%s\]" % version.replace(".", r"\."),
         "debian/changelog's version (%s) is configure.ac's" % version)
    return debs[0]


def check_lintian(fx, deb):
    changes = glob.glob(os.path.join(os.path.dirname(deb), "chatstream_*.changes"))
    rc, out = sh(["lintian", "--fail-on", "error", "--no-tag-display-limit"]
                 + (changes or [deb]), log=fx.path("lintian.log"))
    errors = [ln for ln in out.splitlines() if ln.startswith("E: ")]
    warnings = [ln for ln in out.splitlines() if ln.startswith("W: ")]
    ok(rc == 0 and not errors, "lintian: no error (%d)" % len(errors))
    for ln in errors + warnings:
        diag(ln)


def check_files():
    for p in EXPECTED:
        ok(os.path.isfile(p), "installed: %s" % p)
    st = os.stat("/usr/bin/chatstream")
    ok(st.st_mode & 0o111 and st.st_uid == 0, "/usr/bin/chatstream is root's and executable")
    is_(os.stat("/etc/chatstream/chatstream.conf").st_mode & 0o777, 0o644,
        "the configuration is readable by the service's (dynamic) user")
    conffiles = read_text("/var/lib/dpkg/info/chatstream.conffiles").split()
    ok("/etc/chatstream/chatstream.conf" in conffiles, "/etc/chatstream/chatstream.conf is a conffile")
    rc, out = sh(["/usr/bin/chatstream", "--version"])
    like(out, r"^chatstream \d", "the installed binary runs (%s)" % out.strip())
    rc, out = sh(["/usr/bin/chatstream", "--help"])
    like(out, r"/etc/chatstream/chatstream\.conf", "its default configuration is "
         "/etc/chatstream/chatstream.conf")
    rc, out = sh(["/usr/bin/chatstream", "-c", "/etc/chatstream/chatstream.conf", "--check-config"])
    is_(rc, 0, "the installed configuration passes --check-config")
    for u in ("chatstream.service", "chatstream.socket"):
        ok("/usr/local" not in read_text(os.path.join(UNITS, u)), "%s names no /usr/local path" % u)
    # enabled by the postinst (deb-systemd-helper works without systemd running)
    ok(os.path.islink("/etc/systemd/system/sockets.target.wants/chatstream.socket"),
       "chatstream.socket is enabled")


def exec_start():
    """The installed service's ExecStart, split."""
    for ln in read_text(os.path.join(UNITS, "chatstream.service")).splitlines():
        if ln.startswith("ExecStart="):
            return shlex.split(ln.split("=", 1)[1])
    bail("no ExecStart= in the installed chatstream.service")


def check_units(argv):
    is_(argv, ["/usr/bin/chatstream", "-c", "/etc/chatstream/chatstream.conf"],
        "ExecStart runs the installed binary on the installed configuration")
    svc = read_text(os.path.join(UNITS, "chatstream.service"))
    like(svc, r"\nStateDirectory=chatstream\n", "StateDirectory=chatstream")
    like(svc, r"\nStateDirectoryMode=0700\n", "StateDirectoryMode=0700 (the spool's check)")
    like(svc, r"\nDynamicUser=yes\n", "DynamicUser=yes (no user to create or remove)")
    if not os.path.exists(SYSTEMD_ANALYZE):
        skip("systemd-analyze not installed")
        return
    rc, out = sh([SYSTEMD_ANALYZE, "verify", "--man=no", UNITS + "/chatstream.socket",
                  UNITS + "/chatstream.service"], timeout=120)
    ok(rc == 0 and not out.strip(), "systemd-analyze verify: the installed units load "
       "without a warning (rc %d)" % rc)
    if out.strip():
        diag(out)


def start_chatstream(fx, argv):
    """chatstream as the installed unit starts it; its socket path."""
    if os.path.isdir("/run/systemd/system"):
        diag("systemd runs: the installed chatstream.socket serves")
        rc, out = sh(["systemctl", "is-active", "chatstream.socket"])
        is_(out.strip(), "active", "the package started chatstream.socket")
        return "/run/chatstream/chatstream.sock"
    diag("no systemd: the installed ExecStart under spawn-fcgi, as systemd would run it")
    nobody = pwd.getpwnam("nobody")
    os.mkdir(STATE, 0o700)
    os.chown(STATE, nobody.pw_uid, nobody.pw_gid)
    sock = fx.path("chatstream.sock")
    log = fx.path("chatstream.log")
    env = {"PATH": "/usr/bin:/bin", "STATE_DIRECTORY": STATE}
    with open(log, "ab") as f:
        proc = _popen([SPAWN_FCGI, "-n", "-s", sock, "-u", "nobody", "-g",
                       grp_name(nobody.pw_gid), "--"] + argv,
                      cwd="/", stdin=subprocess.DEVNULL, stdout=f, stderr=f, env=env)
    fx._procs.append(proc)
    fx.cs_log = log
    return sock


def grp_name(gid):
    import grp
    return grp.getgrgid(gid).gr_name


def serve(fx, sock):
    body = "\n".join([
        'var.chatstream_mount = "/chat"',
        "var.chatstream_socket = %s" % q(sock),
        "include %s" % q(EXAMPLES + "/lighttpd-chatstream.conf"),
        '$HTTP["url"] !~ "^/chat/" { server.document-root = %s }' % q(WWW),
    ])
    lt = fx.start_front(LighttpdConf(fx, body, name="lighttpd"))
    for name in ("index.html", "app.js"):
        r = CurlStream(fx, lt.url(name, "/"), timeout=20).finish()
        with open(os.path.join(WWW, name), "rb") as f:
            ok(r.status == 200 and r.body == f.read(), "lighttpd serves the installed %s" % name)
    r = CurlStream(fx, lt.url("health"), timeout=20).finish()
    is_(r.status, 200, "GET /chat/health through lighttpd and the installed snippet")
    P = "hello from the package"
    res = CurlStream(fx, lt.url(""), body=json.dumps({"prompt": P}).encode(),
                     headers=["Content-Type: application/json"], timeout=60).finish()
    sv = check_stream(res, demo_text(P), label="a stream from the installed files")
    url = (sv.meta or {}).get("resume") or ""
    like(url, r"^/chat/streams/[A-Za-z0-9_-]+$", "meta names the stream's resume URL")
    kept = os.listdir(os.path.realpath(STATE)) if os.path.isdir(STATE) else []
    ok(kept, "the journal is kept in %s (%d file(s))" % (STATE, len(kept)))
    r = CurlStream(fx, lt.url(url, ""), headers=["Last-Event-ID: 1"], timeout=30).finish()
    rv = r.stream()
    is_((r.status, rv.text, rv.types[-1:]), (200, demo_text(P), ["done"]),
        "resumed after the meta event: the whole answer again, from the journal")
    return lt


def stop_serving(fx, lt):
    lt.stop()
    for p in fx._procs:
        if p.args and p.args[0] == SPAWN_FCGI and p.poll() is None:
            p.terminate()
            p.wait(timeout=30)


def purge_if_installed(log=None):
    if status():
        apt("purge", PKG, log=log)


def main():
    if os.geteuid() != 0:
        skip_all("needs root: installs and purges the chatstream package")
    for tool in ("dpkg-buildpackage", "dh", "fakeroot", "lintian", "apt-get"):
        if not shutil.which(tool):
            bail("%s not found: scripts/install-deps.sh --tests installs it" % tool)
    if not (os.path.exists(LIGHTTPD) and os.path.exists(SPAWN_FCGI)):
        bail("lighttpd or spawn-fcgi missing: scripts/install-deps.sh installs them")
    fx = FrontFixture("deb")
    os.chmod(fx.tmp, 0o755)
    log = fx.path("apt.log")
    if status():
        diag("chatstream was installed (%s): purged first" % status())
        purge_if_installed(log)
    if os.path.lexists(STATE):
        bail("%s exists without the package: not this test's to remove" % STATE)
    fx.on_close(lambda: purge_if_installed(log))

    deb = build(fx, copy_source(fx))
    check_lintian(fx, deb)
    before = leftovers()
    users = {p.pw_name for p in pwd.getpwall()}

    rc, out = apt("install", os.path.abspath(deb), log=log)
    ok(rc == 0 and status() == "install ok installed",
       "apt-get install ./%s (rc %d)" % (os.path.basename(deb), rc))
    if rc != 0:
        diag(out[-2000:])
        bail("the package did not install")
    check_files()
    argv = exec_start()
    check_units(argv)
    sock = start_chatstream(fx, argv)
    lt = serve(fx, sock)
    stop_serving(fx, lt)

    rc, out = apt("remove", PKG, log=log)
    is_((rc, status()), (0, "deinstall ok config-files"), "apt-get remove")
    ok(not os.path.exists("/usr/bin/chatstream") and not os.path.exists(UNITS + "/chatstream.service"),
       "... removes the binary and the units")
    ok(os.path.isfile("/etc/chatstream/chatstream.conf"), "... keeps the conffile")
    rc, out = apt("purge", PKG, log=log)
    is_((rc, status()), (0, None), "apt-get purge: dpkg knows the package no more")
    is_(sh(["dpkg", "-L", PKG])[0] != 0, True, "dpkg -L chatstream lists nothing")
    ok(not os.path.lexists("/etc/chatstream"), "/etc/chatstream is gone")
    ok(not os.path.lexists(STATE) and not os.path.lexists("/var/lib/private/chatstream"),
       "the state directory (the journal) is gone")
    left = sorted(leftovers() - before)
    ok(not left, "nothing named chatstream is left behind (%s)" % (", ".join(left) or "none"))
    is_(sorted({p.pw_name for p in pwd.getpwall()} - users), [], "no user was created")


run(main)
