"""Serving the app inside the test process, on a free port, for gradio_client."""

from __future__ import annotations

import contextlib
import socket


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served_app():
    """The whole app, built and launched in this process; yields a gradio_client Client."""
    from gradio_client import Client

    import app

    demo = app.build_demo()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                **app.launch_options())
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()
