"""``python -m server``: run the demo server under waitress."""

from __future__ import annotations

import argparse
import sys

from server import create_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (the contract in shared/ARCHITECTURE.md)."""
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start the server and block until interrupted."""
    import waitress

    args = parse_args(argv)
    app = create_app()
    print(f"authfetch server on http://{args.host}:{args.port}", flush=True)
    waitress.serve(app, host=args.host, port=args.port, threads=8, ident="authfetch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
