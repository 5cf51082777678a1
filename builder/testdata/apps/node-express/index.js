// An Express app, as most Node web apps start: routes, a logger, and
// static files from the app's own tree.
const path = require("path");
const express = require("express");
const morgan = require("morgan");

const app = express();
app.use(morgan("tiny"));
app.use("/static", express.static(path.join(__dirname, "public")));

app.get("/", (req, res) => {
  res.type("text").send(`hello from express ${require("express/package.json").version}; greeting: ${process.env.GREETING || ""}\n`);
});

app.get("/healthz", (req, res) => res.send("ok\n"));

const port = process.env.PORT || 5000;
app.listen(port, () => console.log(`listening on :${port}`));
