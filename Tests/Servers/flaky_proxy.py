#!/usr/bin/env python3
"""A proxy in front of the S3 test server that fails as object stores and networks do, in a
fixed pattern: of every 29 requests, some are answered 503 SlowDown without being passed on,
some have their connection closed before they are passed on, and one is passed on and then has
its answer dropped (the request took effect; the client never hears). Everything else is passed
on unchanged (the Host header too, so signatures still hold). Usage: flaky_proxy.py TARGET_PORT
[--count-only LOG]: with --count-only, no faults, and a line "METHOD PATH [RANGE]" per request appended
to LOG (bench/s3-vs-restic.sh counts requests with it). Prints its port, then serves until
killed or until the process that started it is gone."""
import http.client, os, socket, struct, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Gone with the test process that started it: its parent is watched at the end (not with
# PR_SET_PDEATHSIG, which fires when the parent's thread that started it ends).
parent = os.getppid()
target = int(sys.argv[1])
count_log = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--count-only" else None
lock = threading.Lock()
count = 0
SLOW_DOWN = {3, 17}
DROPPED_BEFORE = {9, 24}
DROPPED_AFTER = {13}

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def cut(self):
        # A reset, as a network drops a connection: linger 0, then shutdown (not close: the
        # handler's file objects would keep the socket open).
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def handle_any(self):
        global count
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            # Gathered whole and passed on with its length (restic's client sends chunked bodies).
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
        with lock:
            count += 1
            turn = count % 29 if count_log is None else 0
            if count_log is not None:
                with open(count_log, "a") as log:
                    log.write(f"{self.command} {self.path} {self.headers.get('Range', '')}".rstrip() + "\n")
        if turn in SLOW_DOWN:
            answer = b"<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer)
            return
        if turn in DROPPED_BEFORE:
            self.cut()
            return
        upstream = http.client.HTTPConnection("127.0.0.1", target, timeout=60)
        headers = {name: value for name, value in self.headers.items() if name.lower() not in ("connection", "proxy-connection", "transfer-encoding")}
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            headers["Content-Length"] = str(len(body))
        upstream.request(self.command, self.path, body=body if (body or self.command in ("PUT", "POST")) else None, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        upstream.close()
        if turn in DROPPED_AFTER:
            self.cut()
            return
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(name, value)
        # A HEAD answer's length is the object's, not of the (empty) body.
        self.send_header("Content-Length", response.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
while os.getppid() == parent:
    time.sleep(1)
os._exit(0)
