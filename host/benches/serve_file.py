#!/usr/bin/env python3
"""Loopback HTTP server for host/benches/download.sh.

Serves the files of one directory with Content-Length and os.sendfile (zero copy),
so the server costs as little CPU as possible and the clients being compared
(curl and wasmvisor) are what limits the throughput. Prints its port on stdout.

    serve_file.py <directory>
"""
import http.server
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _open(self):
        name = os.path.basename(self.path.split("?", 1)[0])
        path = os.path.join(self.server.root, name)
        if not name or not os.path.isfile(path):
            self.send_error(404)
            return None
        return open(path, "rb")

    def _headers(self, f):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(os.fstat(f.fileno()).st_size))
        self.send_header("Connection", "close")
        self.end_headers()

    def do_HEAD(self):
        f = self._open()
        if f:
            with f:
                self._headers(f)

    def do_GET(self):
        f = self._open()
        if f:
            with f:
                self._headers(f)
                self.wfile.flush()
                self.connection.sendfile(f)
        self.close_connection = True

    def log_message(self, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.root = sys.argv[1]
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
