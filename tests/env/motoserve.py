#!/usr/bin/env python3
"""Run a moto server on a free loopback port and write that port to a file (used by drenv)."""
import argparse
import functools
import logging
import os
import signal
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port-file", required=True, help="where to write the bound port")
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()

    # Imported here so that a missing moto gives a short message, not a traceback.
    try:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server
    except ImportError as e:
        print(f"motoserve: moto server mode is not importable: {e}", file=sys.stderr)
        return 2

    class Dispatcher(DomainDispatcherApplication):
        """moto's dispatcher with its host -> backend lookup remembered: moto scans its module list and every
        backend's URL patterns on each request (an eighth of its time per request), for an answer that depends
        on the host name alone."""

        @functools.lru_cache(maxsize=4096)
        def get_backend_for_host(self, host):
            return super().get_backend_for_host(host)

    # The proxy keeps the request log; moto's own access log line per request costs a tenth of its time.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # Port 0: the kernel picks a free port, so parallel runs never collide.
    srv = make_server(args.host, 0, Dispatcher(create_backend_app), threaded=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_port))
    os.rename(tmp, args.port_file)  # atomic: the launcher never reads a half-written port
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
