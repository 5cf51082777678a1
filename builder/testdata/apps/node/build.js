// The build step of the Node sample. It shows that config vars reach the
// build (the builder masks their values in the output) and writes a file the
// server reads at run time.
const fs = require("fs");

console.log(`build sees SAMPLE_SECRET=${process.env.SAMPLE_SECRET || "(unset)"}`);
fs.writeFileSync("build-info.txt", "built by build.js\n");
