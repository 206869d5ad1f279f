#!/usr/bin/python3
"""SMTP sink for Ruche's end-to-end tests.

Accepts every message on HOST:PORT (plain SMTP, no auth) and stores each one as DIR/<n>.eml,
n = 1, 2, ... in arrival order, written atomically (temporary file, then rename). The envelope is
recorded in front of the message as a `Return-Path:` header and one `Delivered-To:` header per
recipient, the way a delivering MTA does.

Needs Debian's python3-aiosmtpd (run it with /usr/bin/python3). Runs in the foreground until
SIGTERM or SIGINT.
"""

import argparse
import itertools
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class DirectoryHandler:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        header = "Return-Path: <%s>\r\n" % (envelope.mail_from or "")
        for rcpt in envelope.rcpt_tos:
            header += "Delivered-To: %s\r\n" % rcpt
        with self.lock:
            n = next(self.counter)
        tmp = os.path.join(self.directory, ".%d.eml.tmp" % n)
        final = os.path.join(self.directory, "%d.eml" % n)
        with open(tmp, "wb") as f:
            f.write(header.encode("utf-8"))
            f.write(content)
        os.rename(tmp, final)
        print(
            "stored %d.eml from <%s> to %s"
            % (n, envelope.mail_from, ", ".join(envelope.rcpt_tos)),
            flush=True,
        )
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    controller = Controller(
        DirectoryHandler(args.dir),
        hostname=args.host,
        port=args.port,
        enable_SMTPUTF8=True,
    )
    controller.start()
    print("smtp sink listening on %s:%d" % (args.host, args.port), flush=True)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(3600):
        pass
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
