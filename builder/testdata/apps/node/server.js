// The Node sample app: answers every request on $PORT.
const http = require("http");
const fs = require("fs");

const port = process.env.PORT || 5000;
const info = fs.readFileSync(__dirname + "/build-info.txt", "utf8").trim();

http
  .createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
    res.end(`hello from node (${info})\n`);
  })
  .listen(port, () => console.log(`listening on :${port}`));
