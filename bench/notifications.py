"""How long one notification takes to deliver, stored attempts included.

    python bench/notifications.py [--count 20] [--out results.json]

On a fresh SQLite store in a temporary folder, ``deliver()`` sends ``--count`` messages
to a Slack channel whose receiver is an HTTP server on 127.0.0.1, and as many emails to
an SMTP server on 127.0.0.1 (aiosmtpd, if installed). Each delivery writes its pending
row, tries once, and writes its attempt: what the automation executor waits for per
notification when the receiver is healthy. Prints JSON: median, p90 and max in ms.
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def _time(send: Any, count: int) -> list[float]:
    send()  # warm-up: imports, the first connection, the key file
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        delivery = send()
        samples.append(time.perf_counter() - start)
        assert delivery.status == "sent", delivery.last_error
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from legato.notifications import Notifications
    from legato.schemas.notifications import ChannelSpec, EmailConfig, Message, SlackConfig
    from legato.secrets_box import box_from_file
    from legato.store import Store

    results: dict[str, Any] = {"count": args.count, "python": platform.python_version()}
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{Path(folder) / 'legato.db'}")
        notes = Notifications(store, load_box=lambda: box_from_file(Path(folder) / "key"))
        message = Message(subject="etl/nightly: Failed", body="bench", state="Failed")

        port = _free_port()
        server = ThreadingHTTPServer(("127.0.0.1", port), _Ok)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        slack = SlackConfig(url=f"http://127.0.0.1:{port}/services/T/B/x")
        notes.create_channel(ChannelSpec(name="slack", config=slack))
        results["slack"] = _summary(_time(lambda: notes.deliver("slack", message), args.count))
        server.shutdown()

        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            results["email"] = "skipped: aiosmtpd is not installed"
        else:

            class Sink:
                async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                    return "250 OK"

            smtp_port = _free_port()
            controller = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
            controller.start()
            email = EmailConfig(
                host="127.0.0.1",
                port=smtp_port,
                sender="legato@example.com",
                to=["ops@example.com"],
                security="none",
            )
            notes.create_channel(ChannelSpec(name="mail", config=email))
            results["email"] = _summary(_time(lambda: notes.deliver("mail", message), args.count))
            controller.stop()
        store.close()

    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
