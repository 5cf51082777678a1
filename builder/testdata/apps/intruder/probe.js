// probe.js tries TCP connections to host:port targets and reports, for
// each, "open" or "blocked <reason>". In `build` mode it probes the
// targets of PROBE_TARGETS and then downloads a Go module from the Go
// module proxy and a package from npm; in `serve` mode it answers
// GET /probe?target=host:port on $PORT.
"use strict";
const net = require("net");
const http = require("http");
const https = require("https");

function probe(target) {
  return new Promise((resolve) => {
    const i = target.lastIndexOf(":");
    const sock = net.connect({ host: target.slice(0, i), port: Number(target.slice(i + 1)) });
    const done = (result) => { sock.destroy(); resolve(result); };
    sock.setTimeout(3000, () => done("blocked timeout"));
    sock.on("connect", () => done("open"));
    sock.on("error", (err) => done("blocked " + (err.code || err.message)));
  });
}

function download(url) {
  return new Promise((resolve, reject) => {
    https.get(url, (res) => {
      let n = 0;
      res.on("data", (c) => { n += c.length; });
      res.on("end", () => (res.statusCode === 200 ? resolve(n) : reject(new Error(url + ": " + res.statusCode))));
    }).on("error", reject);
  });
}

async function build() {
  const targets = (process.env.PROBE_TARGETS || "").split(/\s+/).filter(Boolean);
  const results = await Promise.all(targets.map(probe));
  targets.forEach((t, i) => console.log(`probe ${t} ${results[i]}`));
  const mod = await download("https://proxy.golang.org/github.com/google/uuid/@v/v1.6.0.zip");
  console.log(`download go-module ${mod} bytes`);
  const pkg = await download("https://registry.npmjs.org/is-number/-/is-number-7.0.0.tgz");
  console.log(`download npm-package ${pkg} bytes`);
}

function serve() {
  http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://app");
    if (url.pathname === "/probe") {
      res.end(await probe(url.searchParams.get("target") || ""));
      return;
    }
    res.end("intruder\n");
  }).listen(Number(process.env.PORT || 5000));
}

if (process.argv[2] === "build") {
  build().catch((err) => { console.error(err.message); process.exit(1); });
} else {
  serve();
}
