#!/usr/bin/env python3
"""Test fixture: an HTTP proxy in front of moto that injects faults and fills moto's gaps (see README.md).

Every request is classified by its SigV4 scope (service, region) and operation name. Unless a fault
or an emulation applies, it goes to moto byte for byte (same method, path, headers including Host,
body) and moto's answer comes back unchanged, except that the connection to the client is kept
alive (moto closes every connection). Tests drive the proxy through JSON calls under /__proxy/.
"""
import argparse
import http.client
import http.server
import json
import os
import random
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import awswire  # noqa: E402
from awswire import Response, error_response  # noqa: E402

FAULT_ACTIONS = ("throttle", "error", "latency", "drop", "hang", "unreachable", "html", "empty", "oversize")
# what a captive portal or a misrouted endpoint answers with 200
PORTAL_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Network login</title></head>"
               b"<body><p>Sign in to continue.</p></body></html>\n")
HANG_MAX_SECONDS = 600


class Fixture:
    """What the emulations share: moto access with the proxy's own credentials, durations, the PG pair."""

    account_id = "123456789012"  # moto's default account

    def __init__(self, moto_url, pg=None):
        self.moto_url = moto_url.rstrip("/")
        u = urllib.parse.urlsplit(self.moto_url)
        self.moto_host, self.moto_port = u.hostname, u.port
        self.pg = pg
        self.durations = {}
        self.region_cut = lambda region: False  # the proxy's faults say when a whole Region is unreachable
        self._clients = {}
        self._lock = threading.Lock()
        import boto3  # noqa: F401  (import once, in the main thread)
        self.session = boto3.session.Session(
            aws_access_key_id=os.environ.get("DRENV_ADMIN_ACCESS_KEY_ID", "testing"),
            aws_secret_access_key=os.environ.get("DRENV_ADMIN_SECRET_ACCESS_KEY", "testing"))

    def client(self, service, region):
        """A boto3 client straight to moto (not through the proxy), cached per service and region."""
        from botocore.config import Config
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                self._clients[key] = self.session.client(
                    service, region_name=region, endpoint_url=self.moto_url,
                    config=Config(retries={"total_max_attempts": 2}, s3={"addressing_style": "path"}))
            return self._clients[key]

    def duration(self, operation):
        return float(self.durations.get(operation, 0))

    def forward(self, req, body=None):
        """Send a request to moto as received; with a new body, re-signed with the proxy's credentials."""
        if body is not None:
            keep = ("content-type", "x-amz-target")
            return self.call(req.service, req.region, req.method, req.path,
                             {k: v for k, v in req.headers.items() if k.lower() in keep}, body)
        return self._send(req.method, req.path, list(req.headers.items()), req.body, skip_host=True)

    def call(self, service, region, method="POST", path="/", headers=None, body=b""):
        """A request to moto signed with the proxy's own credentials; returns the raw Response."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        areq = AWSRequest(method=method, url=self.moto_url + path, data=body, headers=dict(headers or {}))
        SigV4Auth(self.session.get_credentials(), service, region).add_auth(areq)
        return self._send(method, path, list(areq.headers.items()), body, skip_host=False)

    def json_call(self, region, operation, params):
        """A DynamoDB call to moto; returns (status, decoded JSON) without botocore's parsing."""
        r = self.call("dynamodb", region, headers={"X-Amz-Target": f"DynamoDB_20120810.{operation}",
                                                   "Content-Type": "application/x-amz-json-1.0"},
                      body=json.dumps(params).encode())
        return r.status, json.loads(r.body or b"{}")

    def query_call(self, service, region, action, params, version):
        """A Query-protocol call to moto; returns the raw Response (XML)."""
        body = urllib.parse.urlencode(dict({"Action": action, "Version": version}, **params)).encode()
        return self.call(service, region, headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, body=body)

    def _send(self, method, path, headers, body, skip_host):
        """skip_host=True: the headers are the client's own, Host and Content-Length included."""
        conn = http.client.HTTPConnection(self.moto_host, self.moto_port, timeout=300)
        try:
            conn.putrequest(method, path, skip_host=skip_host, skip_accept_encoding=True)
            for k, v in headers:
                conn.putheader(k, v)
            if not skip_host and body:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def moto_api(self, path, body=b"", content_type="application/json"):
        conn = http.client.HTTPConnection(self.moto_host, self.moto_port, timeout=60)
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": content_type})
            r = conn.getresponse()
            r.read()
            return r.status
        finally:
            conn.close()


class Faults:
    """Fault rules, matched in the order they were added; the first that fires wins."""

    def __init__(self):
        self.rules = []
        self.lock = threading.Lock()

    def add(self, spec):
        action = spec.get("action")
        if action not in FAULT_ACTIONS:
            raise ValueError(f"action must be one of {', '.join(FAULT_ACTIONS)}")
        if action == "unreachable" and not spec.get("region"):
            raise ValueError("an unreachable fault needs a region")
        rule = {"id": uuid.uuid4().hex[:12], "service": spec.get("service"), "region": spec.get("region"),
                "operation": spec.get("operation"), "access_key": spec.get("access_key"),
                "action": action, "status": spec.get("status"),
                "code": spec.get("code"), "message": spec.get("message"),
                "latency_ms": spec.get("latency_ms", 0), "hang_ms": spec.get("hang_ms"),
                "size_bytes": int(spec.get("size_bytes", 256 * 1024 * 1024)),
                "count": spec.get("count"), "probability": float(spec.get("probability", 1.0)), "hits": 0}
        if action == "unreachable":
            rule["operation"] = None  # the whole region (optionally one service) is gone
        with self.lock:
            self.rules.append(rule)
        return rule

    def pick(self, req):
        with self.lock:
            for r in self.rules:
                if r["count"] is not None and r["hits"] >= r["count"]:
                    continue
                if any(r[k] is not None and r[k] != v for k, v in
                       (("service", req.service), ("region", req.region), ("operation", req.operation),
                        ("access_key", _access_key_of(req)))):
                    continue
                if r["probability"] < 1.0 and random.random() >= r["probability"]:
                    continue
                r["hits"] += 1
                return dict(r)
        return None

    def region_cut(self, region):
        """An `unreachable` fault cuts the whole Region (or its RDS endpoint)."""
        with self.lock:
            return any(r["action"] == "unreachable" and r["region"] == region and r["service"] in (None, "rds")
                       and (r["count"] is None or r["hits"] < r["count"]) for r in self.rules)

    def remove(self, fault_id=None):
        with self.lock:
            before = len(self.rules)
            self.rules = [r for r in self.rules if fault_id is not None and r["id"] != fault_id]
            return before - len(self.rules)

    def list(self):
        with self.lock:
            return [dict(r) for r in self.rules]


_KEY_RE = re.compile(r"Credential=([A-Za-z0-9]+)/")


def _access_key_of(req):
    """The access key id that signed the request (who sent it, when two agents share the proxy); None unsigned."""
    m = _KEY_RE.search(req.headers.get("Authorization", ""))
    if m:
        return m.group(1)
    cred = req.query.get("X-Amz-Credential")
    return cred[0].split("/")[0] if cred else None


def _attempt_of(value):
    """The attempt number of an `amz-sdk-request: attempt=2; max=3` header, None without it."""
    m = re.search(r"attempt=(\d+)", value or "")
    return int(m.group(1)) if m else None


class Proxy:
    def __init__(self, fx, emulators):
        self.fx = fx
        self.faults = Faults()
        self.log = []
        self.log_lock = threading.Lock()
        self.reset_event = threading.Event()  # wakes hung connections on reset
        self.emulators = emulators
        self.before, self.after, self.control = {}, {}, []
        fx.region_cut = self.faults.region_cut
        for emu in emulators:
            self.before.update(getattr(emu, "before", {}))
            self.after.update(getattr(emu, "after", {}))
            self.control.extend(getattr(emu, "control", []))

    def record(self, req, status, fault, started, emulated=False):
        entry = {"time": time.time(), "service": req.service, "region": req.region,
                 "operation": req.operation, "method": req.method, "path": req.path_only,
                 "status": status, "fault": fault, "emulated": emulated,
                 "ms": round((time.monotonic() - started) * 1000, 1),
                 # one logical call of an AWS SDK and its attempt number, to count retries per call
                 "invocation": req.headers.get("amz-sdk-invocation-id"),
                 "attempt": _attempt_of(req.headers.get("amz-sdk-request", "")),
                 "access_key": _access_key_of(req)}
        with self.log_lock:
            self.log.append(entry)

    def reset(self, moto=False):
        if moto and os.environ.get("DRENV_AUTH") == "1":
            raise ValueError("with --auth a moto reset would delete the IAM users; start a fresh environment")
        self.faults.remove()
        self.fx.durations.clear()
        with self.log_lock:
            self.log.clear()
        self.reset_event.set()
        self.reset_event = threading.Event()
        for emu in self.emulators:
            emu.reset()
        if self.fx.pg is not None:
            self.fx.pg.clear_log()
            self.fx.pg.restore(recreate_db=moto)
        if moto:
            self.fx.moto_api("/moto-api/reset")

    # ---- the control API ---------------------------------------------------------------------
    def handle_control(self, method, path, query, body):
        """Returns (status, JSON-able object)."""
        route = path[len("/__proxy"):].rstrip("/") or "/"
        try:
            spec = json.loads(body) if body else {}
        except ValueError:
            return 400, {"error": "body is not JSON"}
        try:
            if route == "/health":
                return 200, {"ok": True, "moto": self.fx.moto_url, "pg": self.fx.pg is not None}
            if route == "/reset" and method == "POST":  # ?moto=1: moto and the PG database too
                self.reset(moto=query.get("moto", ["0"])[0] in ("1", "true"))
                return 200, {"reset": True}
            if route == "/faults":
                if method == "POST":
                    return 200, {"id": self.faults.add(spec)["id"]}
                if method == "GET":
                    return 200, self.faults.list()
                if method == "DELETE":
                    return 200, {"removed": self.faults.remove()}
            m = re.fullmatch(r"/faults/([0-9a-f]+)", route)
            if m and method == "DELETE":
                n = self.faults.remove(m.group(1))
                return (200, {"removed": n}) if n else (404, {"error": "no such fault"})
            if route == "/requests":
                if method == "DELETE":
                    with self.log_lock:
                        self.log.clear()
                    return 200, {"cleared": True}
                with self.log_lock:
                    entries = list(self.log)
                for k in ("service", "region", "operation"):
                    if k in query:
                        entries = [e for e in entries if e[k] == query[k][0]]
                return 200, entries
            if route == "/durations":
                if method == "POST":
                    items = spec.get("durations") or {spec["operation"]: spec["seconds"]}
                    for op, secs in items.items():
                        self.fx.durations[op] = float(secs)
                elif method == "DELETE":
                    self.fx.durations.clear()
                return 200, dict(self.fx.durations)
            if route == "/emulations":  # what the proxy answers itself, and what it amends
                return 200, sorted([{"service": k[0], "operation": k[1], "kind": "answers"} for k in self.before]
                                   + [{"service": k[0], "operation": k[1], "kind": "amends"} for k in self.after],
                                   key=lambda e: (e["service"], e["operation"], e["kind"]))
            if route == "/state":
                return 200, {type(e).__name__: e.dump() for e in self.emulators}
            for verb, regex, fn in self.control:
                m = re.fullmatch(regex, route)
                if m and verb == method:
                    return fn(m, spec, query)
            return 404, {"error": f"no control route {method} {route}"}
        except (ValueError, KeyError, TypeError) as e:
            return 400, {"error": f"{type(e).__name__}: {e}"}
        except Exception as e:  # e.g. a PostgreSQL step of the bridge
            traceback.print_exc()
            return 500, {"error": f"{type(e).__name__}: {e}"}

    # ---- the AWS path ------------------------------------------------------------------------
    def serve(self, handler, req):
        """Apply a fault, an emulation or plain forwarding; write the response or drop the connection."""
        started = time.monotonic()
        fault = self.faults.pick(req)
        action = fault["action"] if fault else None
        if action in ("drop", "unreachable"):
            self.record(req, None, action, started)
            handler.abort(reset=(action == "unreachable"))
            return
        if action == "hang":
            self.record(req, None, action, started)
            handler.hang(fault["hang_ms"], self.reset_event)
            return
        if action in ("throttle", "error"):
            if action == "throttle":
                status, code, message = awswire.throttle_error(req)
            else:
                status = int(fault["status"] or 500)
                code = fault["code"] or awswire.default_error_code(req.protocol, status)
                message = fault["message"] or "Injected by the test proxy"
            resp = error_response(req, status, code, message)
            self.record(req, resp.status, action, started)
            handler.respond(resp)
            return
        if action in ("html", "empty"):
            resp = Response(200, [("Content-Type", "text/html; charset=utf-8")] if action == "html" else [],
                            PORTAL_PAGE if action == "html" else b"")
            self.record(req, 200, action, started)
            handler.respond(resp)
            return
        if action == "oversize":
            self.record(req, 200, action, started)
            handler.respond_padded(req, fault["size_bytes"])
            return
        if action == "latency":
            time.sleep(fault["latency_ms"] / 1000.0)
        key = (req.service, req.operation)
        resp, emulated = None, False
        try:
            if key in self.before:
                resp = self.before[key](req)
                emulated = resp is not None
            if resp is None:
                resp = self.fx.forward(req)
                if key in self.after and resp.status < 300:
                    changed = self.after[key](req, resp)  # None: moto's answer stands
                    if changed is not None:
                        resp, emulated = changed, True
        except Exception as e:  # a bug, moto gone, a failed bridge step: an error, never a hung client
            traceback.print_exc()
            resp = error_response(req, 500, awswire.default_error_code(req.protocol, 500),
                                  f"test proxy: {type(e).__name__}: {e}")
        # logged before the client has the answer: a test that clears the log once a call returned never finds
        # that call in it afterwards
        self.record(req, resp.status, action, started, emulated)
        handler.respond(resp)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive towards the client
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms stalls
    timeout = 300  # idle keep-alive connections are closed after this
    proxy = None  # set by main()

    def log_message(self, fmt, *args):
        pass  # the request log under /__proxy/requests replaces the access log

    def _read_body(self):
        """The body as sent. A chunked body is kept with its framing so it is forwarded unchanged."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raw = bytearray()
            while True:
                line = self.rfile.readline()
                raw += line
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers, up to the empty line
                        t = self.rfile.readline()
                        raw += t
                        if t in (b"\r\n", b"\n", b""):
                            return bytes(raw)
                raw += self.rfile.read(size + 2)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _handle(self):
        body = self._read_body()
        if self.path.startswith("/__proxy/") or self.path == "/__proxy":
            u = urllib.parse.urlsplit(self.path)
            status, obj = self.proxy.handle_control(self.command, u.path,
                                                    urllib.parse.parse_qs(u.query), body)
            self.respond(Response(status, [("Content-Type", "application/json")],
                                  json.dumps(obj, default=str)))
            return
        req = awswire.Request(self.command, self.path, self.headers, body)
        self.proxy.serve(self, req)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle

    def respond(self, resp):
        length = None
        self.send_response_only(resp.status)
        for k, v in resp.headers:
            lk = k.lower()
            if lk in ("connection", "transfer-encoding", "keep-alive"):
                continue
            if lk == "content-length":
                length = v
                continue
            self.send_header(k, v)
        # A HEAD answer keeps the length of the object it describes; others get their body's.
        self.send_header("Content-Length", length if (self.command == "HEAD" and length) else str(len(resp.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        try:
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client went away; nothing to tell it

    def respond_padded(self, req, size):
        """A 200 of `size` bytes in the protocol's body type, streamed (never built in memory)."""
        json_body = req.protocol in ("json", "rest-json")
        head, tail = (b'{"Padding":"', b'"}') if json_body else (b"<Padding>", b"</Padding>")
        size = max(size, len(head) + len(tail))
        self.send_response_only(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0" if json_body else "text/xml")
        self.send_header("Content-Length", str(size))
        try:
            self.end_headers()
            self.wfile.write(head)
            left, chunk = size - len(head) - len(tail), b"x" * (1 << 20)
            while left > 0:
                self.wfile.write(chunk[:min(left, len(chunk))])
                left -= min(left, len(chunk))
            self.wfile.write(tail)
            self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True  # the client usually hangs up once it has read enough

    def abort(self, reset):
        """Close without answering; with reset=True the client sees ECONNRESET (RST, not FIN)."""
        self.close_connection = True
        if reset:
            # Linger 0 turns the close into a RST; the server then skips its polite shutdown().
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.server.reset_sockets.add(self.connection)

    def hang(self, hang_ms, reset_event):
        """Hold the connection without answering until the client gives up (or a reset)."""
        deadline = time.monotonic() + (hang_ms / 1000.0 if hang_ms else HANG_MAX_SECONDS)
        while time.monotonic() < deadline and not reset_event.is_set():
            r, _, _ = select.select([self.connection], [], [], 0.2)
            if r:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        break  # the client closed its end
                except OSError:
                    break
                time.sleep(0.2)  # it sent more: still no answer, and no busy loop
        self.abort(reset=False)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, *args):
        super().__init__(*args)
        self.reset_sockets = set()

    def shutdown_request(self, request):
        if request in self.reset_sockets:
            self.reset_sockets.discard(request)
            request.close()  # no shutdown(SHUT_WR): that would send a FIN before the RST
        else:
            super().shutdown_request(request)


EMULATORS = (("emu_dynamodb", "DynamoDB"), ("emu_rds", "RDS"), ("emu_route53", "Route53"),
             ("emu_backup", "Backup"), ("emu_s3", "S3"), ("emu_iam", "IAM"))  # (module, class): one per service whose gaps the proxy fills


def build_emulators(fx):
    import importlib
    return [getattr(importlib.import_module(mod), cls)(fx) for mod, cls in EMULATORS]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moto", required=True, help="moto's base URL")
    ap.add_argument("--port-file", required=True, help="where to write the bound port")
    ap.add_argument("--pg-dir", help="the PostgreSQL pair's directory (enables the RDS bridge)")
    args = ap.parse_args()

    pg = None
    if args.pg_dir:
        import pgpair
        pg = pgpair.Pair(args.pg_dir)
    fx = Fixture(args.moto, pg)
    Handler.proxy = Proxy(fx, build_emulators(fx))
    srv = Server(("127.0.0.1", 0), Handler)

    def stop(signum, frame):
        os._exit(0)  # the PG pair is the launcher's (or its reaper's) to stop
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
