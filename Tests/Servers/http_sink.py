#!/usr/bin/env python3
"""A local HTTP listener for the webhook tests: records every request (method, path, headers,
body) as FOLDER/N.json and answers 200, or the status a path ending in /status/NNN asks for
(a path with /flaky/ answers 503 to its first request, then 200). Prints its port, then runs
until killed."""
import json, os, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

folder = sys.argv[1]
os.makedirs(folder, exist_ok=True)
lock = threading.Lock()
count = 0
seen = set()

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        with lock:
            count += 1
            number = count
            first = self.path not in seen
            seen.add(self.path)
        record = {"method": "POST", "path": self.path, "headers": dict(self.headers), "body": body.decode("utf-8", "replace")}
        temporary = os.path.join(folder, f".{number}.tmp")
        with open(temporary, "w") as out:
            json.dump(record, out)
        os.rename(temporary, os.path.join(folder, f"{number}.json"))
        status = 200
        if "/status/" in self.path:
            status = int(self.path.rsplit("/status/", 1)[1].split("/")[0][:3])
        elif "/flaky/" in self.path and first:
            status = 503
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
