"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1:PORT, saving each message it accepts
as DIR/NNNN.eml (written to a temporary name, then renamed, so readers never see half a file).

Usage: smtp_sink.py DIR PORT [CERT KEY]. With a certificate and key, the server requires STARTTLS
before anything is sent. Prints "ready" once it accepts connections; runs until killed.
"""

import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller


class Saver:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.directory, f"{self.count:04}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 Message accepted"


def main():
    directory, port = sys.argv[1], int(sys.argv[2])
    tls = {}
    if len(sys.argv) > 4:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
        tls = {"tls_context": context, "require_starttls": True}
    controller = Controller(Saver(directory), hostname="127.0.0.1", port=port, **tls)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
