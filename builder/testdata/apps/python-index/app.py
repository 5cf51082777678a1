"""The Python sample with a dependency from a package index."""
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import greeting_sample


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{greeting_sample.greet()} (greeting-sample {greeting_sample.__version__})\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "5000"))
    print(f"listening on :{port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
