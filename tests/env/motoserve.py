#!/usr/bin/env python3
"""Run a moto server on a free loopback port and write that port to a file (used by drenv)."""
import argparse
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

    # Port 0: the kernel picks a free port, so parallel runs never collide.
    srv = make_server(args.host, 0, DomainDispatcherApplication(create_backend_app), threaded=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_port))
    os.rename(tmp, args.port_file)  # atomic: the launcher never reads a half-written port
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
