#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Scriptable HTTPS (or plain HTTP) test server for cdnallow's tests. Python 3 stdlib only.

Serve:   httpsd.py --dir DOCROOT --port-file FILE --cert CERT --key KEY [--http] [--log FILE]
Make CA: httpsd.py --mkca DIR

The server binds 127.0.0.1 and, when available, ::1 on the same ephemeral port and writes the
port number to --port-file (atomically) once it accepts connections. Files under DOCROOT are
served with ETag (content hash) and Last-Modified; If-None-Match / If-Modified-Since get 304.
Every request is appended to the log (default: DOCROOT/../requests.log) as one line:

    METHOD PATH STATUS inm=IF-NONE-MATCH|- ims=IF-MODIFIED-SINCE|- ua=USER-AGENT|-

(spaces inside values become '_'; PATH excludes the query; STATUS is a number, or "stall").

Faults: a file DOCROOT/PATH.fault (or a query ?fault=DIRECTIVE) holds one directive:
    status N [RETRY]  answer N (with "Retry-After: RETRY" when given: seconds or an HTTP
                      date); "status 304" answers 304 whatever the request
    redirect URL      301 to URL (absolute, or a path on this server)
    redirect-http     301 to http://HOST:PORT/PATH (same host and port, same path)
    redirect-loop     302 back to the same URL, forever
    stall             accept, read the request, never answer
    trickle           200 with the real length, then one byte per second
    short             Content-Length 100 bytes larger than the body, then close
    html              200 text/html challenge page
    empty             200 with an empty body
    big N [nolength]  200 with N bytes of valid-looking lines ("10.a.b.c/32\\n"); with
                      "nolength", no Content-Length (the body ends when the server closes)
    ctype TYPE        the real body with Content-Type TYPE
    delay SECS        the normal answer after SECS seconds (may be fractional)
    partial N         206 Partial Content with the first N lines of the real file (and
                      its ETag), as a server honouring a Range would answer
Blank lines and lines starting with '#' in a fault file are ignored; the first other line
counts. A fault applies whether or not PATH itself exists.
"""

import argparse
import email.utils
import hashlib
import http.server
import mimetypes
import os
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

HTML_PAGE = (b"<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title>"
             b"</head><body><noscript>Enable JavaScript and cookies to continue</noscript>"
             b"<script>window._cf_chl_opt={cType: 'managed'};</script></body></html>\n")


def mkca(d):
    """Throwaway CA + server cert (127.0.0.1, ::1, localhost) + untrusted self-signed cert."""
    os.makedirs(d, exist_ok=True)

    def run(*args):
        subprocess.run(["openssl", *args], check=True, cwd=d,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    san = "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost"
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=cdnallow test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write(san + "\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    run("req", "-x509", *ec, "-keyout", "untrusted.key", "-out", "untrusted.pem",
        "-days", "2", "-subj", "/CN=localhost", "-addext", san)
    for f in ("server.csr", "server.ext", "ca.srl"):
        try:
            os.unlink(os.path.join(d, f))
        except FileNotFoundError:
            pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, family, addr, port, opts, tls):
        self.address_family = family
        self.opts = opts
        self.tls = tls
        super().__init__((addr, port), Handler)

    def server_bind(self):
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        socketserver.TCPServer.server_bind(self)
        self.server_name = "localhost"
        self.server_port = self.socket.getsockname()[1]

    def handle_error(self, request, client_address):
        pass  # quiet: clients hang up on purpose in many tests


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "httpsd"
    sys_version = ""

    def version_string(self):
        return self.server_version
    timeout = 30

    def setup(self):
        if self.server.tls is not None:
            self.request.settimeout(10)
            self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def log_message(self, fmt, *args):
        pass

    def log_request(self, code="-", size="-"):
        pass

    def record(self, status):
        def v(name):
            s = self.headers.get(name) if self.headers else None
            return "-" if not s else s.replace(" ", "_")
        path = urllib.parse.urlsplit(self.path).path
        line = "%s %s %s inm=%s ims=%s ua=%s\n" % (self.command, path, status,
                                                   v("If-None-Match"),
                                                   v("If-Modified-Since"), v("User-Agent"))
        with self.server.opts.log_lock:
            with open(self.server.opts.log, "a") as f:
                f.write(line)

    def fault(self, rel, query):
        q = urllib.parse.parse_qs(query)
        if "fault" in q:
            return q["fault"][0].split()
        try:
            with open(os.path.join(self.server.opts.dir, rel) + ".fault") as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        return line.split()
        except OSError:
            pass
        return []

    def reply(self, code, body=b"", ctype="text/plain; charset=utf-8", headers=(),
              length=None):
        self.record(code)
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for k, val in headers:
            self.send_header(k, val)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD" and code != 304:
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self.do_GET()

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        rel = os.path.normpath(urllib.parse.unquote(u.path)).lstrip("/")
        if rel.startswith("..") or rel.endswith(".fault"):
            return self.reply(403, b"forbidden\n")
        f = self.fault(rel, u.query)
        verb, args = (f[0], f[1:]) if f else ("", [])
        try:
            return self.serve(verb, args, rel, u)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True

    def serve(self, verb, args, rel, u):
        if verb == "status":
            code = int(args[0])
            hdrs = [("Retry-After", " ".join(args[1:]))] if len(args) > 1 else []
            return self.reply(code, b"" if code == 304 else b"error %d\n" % code,
                              headers=hdrs)
        if verb == "redirect":
            return self.reply(301, b"moved\n", headers=[("Location", args[0])])
        if verb == "redirect-http":
            host = self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_port
            return self.reply(301, b"moved\n",
                              headers=[("Location", "http://%s%s" % (host, u.path))])
        if verb == "redirect-loop":
            return self.reply(302, b"again\n", headers=[("Location", self.path)])
        if verb == "stall":
            self.record("stall")
            self.close_connection = True
            end = time.monotonic() + 120
            self.request.settimeout(1)
            while time.monotonic() < end and not self.server.opts.stop.is_set():
                try:
                    if not self.request.recv(1):
                        break
                except socket.timeout:
                    continue
                except (OSError, ssl.SSLError):
                    break
            return None
        if verb == "html":
            return self.reply(200, HTML_PAGE, ctype="text/html; charset=UTF-8")
        if verb == "empty":
            return self.reply(200, b"")
        if verb == "big":
            return self.big(int(args[0]), "nolength" in args[1:])
        if verb == "delay":
            time.sleep(float(args[0]))
        return self.file(verb, args, rel)

    def big(self, n, nolength):
        self.record(200)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        if nolength:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(n))
        self.end_headers()
        if self.command == "HEAD":
            return
        i, sent = 0, 0
        while sent < n:
            chunk = bytearray()
            while len(chunk) < 65536:
                chunk += b"10.%d.%d.%d/32\n" % ((i >> 16) & 255, (i >> 8) & 255, i & 255)
                i += 1
            chunk = bytes(chunk[:n - sent])
            self.wfile.write(chunk)
            sent += len(chunk)

    def file(self, verb, args, rel):
        path = os.path.join(self.server.opts.dir, rel)
        try:
            with open(path, "rb") as fh:
                body = fh.read()
                mtime = int(os.fstat(fh.fileno()).st_mtime)
        except (IsADirectoryError, FileNotFoundError, NotADirectoryError):
            return self.reply(404, b"not found\n")
        except OSError:
            return self.reply(403, b"forbidden\n")
        etag = '"%s"' % hashlib.sha256(body).hexdigest()[:32]
        lm = email.utils.formatdate(mtime, usegmt=True)
        ctype = mimetypes.guess_type(rel)[0] or "text/plain"
        if ctype.startswith("text/"):
            ctype += "; charset=utf-8"
        if verb == "ctype":
            ctype = " ".join(args)
        hdrs = [("ETag", etag), ("Last-Modified", lm)]
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if inm is not None:
            tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
            if "*" in tags or etag in tags:
                return self.reply(304, headers=hdrs)
        elif ims is not None:
            try:
                t = email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError, IndexError):
                t = None
            if t is not None and mtime <= t:
                return self.reply(304, headers=hdrs)
        if verb == "partial":
            part = b"".join(body.splitlines(keepends=True)[:int(args[0])])
            rng = "bytes 0-%d/%d" % (max(len(part) - 1, 0), len(body))
            return self.reply(206, part, ctype=ctype, headers=hdrs + [("Content-Range", rng)])
        if verb == "short":
            self.close_connection = True
            return self.reply(200, body, ctype=ctype, headers=hdrs, length=len(body) + 100)
        if verb == "trickle":
            self.record(200)
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            for k, val in hdrs:
                self.send_header(k, val)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.flush()
            for i in range(len(body)):
                if self.server.opts.stop.is_set():
                    break
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                time.sleep(1)
            self.close_connection = True
            return None
        return self.reply(200, body, ctype=ctype, headers=hdrs)


def listen(opts, tls):
    """Both loopback families on one ephemeral port; ::1 is optional."""
    for _ in range(20):
        s4 = Server(socket.AF_INET, "127.0.0.1", 0, opts, tls)
        port = s4.server_port
        if not socket.has_ipv6:
            return [s4], port
        try:
            s6 = Server(socket.AF_INET6, "::1", port, opts, tls)
        except OSError as e:
            if e.errno == 98:  # EADDRINUSE: the port is taken on ::1, try another
                s4.server_close()
                continue
            return [s4], port  # no ::1 here (EADDRNOTAVAIL, EAFNOSUPPORT)
        return [s4, s6], port
    raise SystemExit("httpsd: no port free on both 127.0.0.1 and ::1")


def main():
    ap = argparse.ArgumentParser(description="cdnallow test HTTPS server")
    ap.add_argument("--mkca", metavar="DIR")
    ap.add_argument("--dir")
    ap.add_argument("--port-file")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--http", action="store_true", help="plain HTTP, no TLS")
    ap.add_argument("--log")
    opts = ap.parse_args()
    if opts.mkca:
        mkca(opts.mkca)
        return 0
    if not opts.dir or not opts.port_file or (not opts.http and not (opts.cert and opts.key)):
        ap.error("--dir, --port-file and (--cert and --key, or --http) are required")
    opts.dir = os.path.abspath(opts.dir)
    if not opts.log:
        opts.log = os.path.join(os.path.dirname(opts.dir), "requests.log")
    opts.log_lock = threading.Lock()
    opts.stop = threading.Event()
    tls = None
    if not opts.http:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(opts.cert, opts.key)
    servers, port = listen(opts, tls)

    def stop(signum, frame):
        opts.stop.set()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, stop)
    for s in servers:
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, opts.port_file)
    while not opts.stop.wait(1):
        pass
    for s in servers:
        s.shutdown()
        s.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
