#!/usr/bin/env python3
"""A local SMTP sink for the notification tests (PyPI aiosmtpd): accepts every message on
127.0.0.1 and writes each, with its envelope, to FOLDER/N.eml. Prints the port it listens on,
then runs until killed."""
import os, socket, sys, time
from aiosmtpd.controller import Controller

folder = sys.argv[1]
os.makedirs(folder, exist_ok=True)

class Sink:
    count = 0

    async def handle_DATA(self, server, session, envelope):
        Sink.count += 1
        head = f"X-Envelope-From: {envelope.mail_from}\nX-Envelope-To: {' '.join(envelope.rcpt_tos)}\n"
        temporary = os.path.join(folder, f".{Sink.count}.tmp")
        with open(temporary, "wb") as out:
            out.write(head.encode() + envelope.original_content)
        os.rename(temporary, os.path.join(folder, f"{Sink.count}.eml"))
        return "250 OK"

with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
controller = Controller(Sink(), hostname="127.0.0.1", port=port)
controller.start()
print(port, flush=True)
while True:
    time.sleep(3600)
