#!/usr/bin/env python3
"""An S3 server that lies, for the tests: a batch delete is answered 200 with an empty result
(nothing removed, nothing said), and every listing (ListObjectsV2, ListMultipartUploads) says
there is more and gives the same continuation token or markers again; a PUT of more than 64 KiB
on a connection that already carried a request is cut off (reset) after 100 KB of its body,
while one on a fresh connection is stored. Prints its port, then serves until killed or until
the process that started it is gone."""
import os, socket, struct, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parent = os.getppid()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        self.served = getattr(self, "served", 0) + 1
        length = int(self.headers.get("Content-Length") or 0)
        if self.served > 1 and length > 64 << 10:
            self.rfile.read(100_000)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("ETag", '"e"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.answer(200, '<?xml version="1.0"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>')

    def do_GET(self):
        if "uploads" in self.path:
            self.answer(200, "<ListMultipartUploadsResult><Bucket>b</Bucket><KeyMarker>k</KeyMarker><UploadIdMarker>u</UploadIdMarker>"
                        "<NextKeyMarker>k</NextKeyMarker><NextUploadIdMarker>u</NextUploadIdMarker><IsTruncated>true</IsTruncated>"
                        "</ListMultipartUploadsResult>")
        else:
            self.answer(200, "<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>true</IsTruncated>"
                        "<NextContinuationToken>again</NextContinuationToken></ListBucketResult>")

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
while os.getppid() == parent:
    time.sleep(1)
