// Runs the authfetch core's unit tests under MicroPython, in Node (no browser).
//
//   node tests/micropython/run.mjs [test file names ...]
//
// $AUTHFETCH_MPY_TESTS names another folder of tests (the runner's own tests use it).
// Loads the pinned MicroPython (node_modules/@micropython/micropython-webassembly-pyscript),
// places the package root and core of py/authfetch/src/authfetch, the tests
// (tests/unit/test_authfetch_*.py, or the names given) and their helpers
// (tests/unit/authfetch_*.py) in its filesystem, with mpy_runner.py and
// pytest_shim.py (as "pytest"), and runs mpy_runner.main. The exit status is 1
// when any test failed or a file could not be imported.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");
const UNIT = process.env.AUTHFETCH_MPY_TESTS || path.join(ROOT, "tests", "unit");
const PACKAGE = path.join(ROOT, "py", "authfetch", "src", "authfetch");
const MICROPYTHON = path.join(
  ROOT, "node_modules", "@micropython", "micropython-webassembly-pyscript", "micropython.mjs",
);
const TEST_FILE = /^test_authfetch_\w+\.py$/;
const HELPER_FILE = /^authfetch_\w+\.py$/;
// The browser page's heap is PyScript's default; the tests get more room.
const HEAP_BYTES = 8 * 1024 * 1024;

/** Copy a host folder's .py files (recursively) into MicroPython's filesystem. */
function placeTree(FS, source, target) {
  FS.mkdirTree(target);
  for (const entry of fs.readdirSync(source, { withFileTypes: true })) {
    const from = path.join(source, entry.name);
    if (entry.isDirectory() && entry.name !== "__pycache__") {
      placeTree(FS, from, `${target}/${entry.name}`);
    } else if (entry.isFile() && entry.name.endsWith(".py")) {
      FS.writeFile(`${target}/${entry.name}`, fs.readFileSync(from));
    }
  }
}

async function main() {
  const requested = process.argv.slice(2).map((name) => path.basename(name));
  const names = fs.readdirSync(UNIT).sort();
  const tests = requested.length ? requested : names.filter((name) => TEST_FILE.test(name));
  const helpers = names.filter((name) => HELPER_FILE.test(name));
  const { loadMicroPython } = await import(MICROPYTHON);
  const mp = await loadMicroPython({
    heapsize: HEAP_BYTES,
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
  });
  const { FS } = mp;
  // The package root and its core: what runs on both interpreters with no browser.
  FS.mkdirTree("/lib/authfetch");
  FS.writeFile("/lib/authfetch/__init__.py", fs.readFileSync(path.join(PACKAGE, "__init__.py")));
  placeTree(FS, path.join(PACKAGE, "core"), "/lib/authfetch/core");
  FS.writeFile("/lib/pytest.py", fs.readFileSync(path.join(HERE, "pytest_shim.py")));
  FS.writeFile("/lib/mpy_runner.py", fs.readFileSync(path.join(HERE, "mpy_runner.py")));
  FS.mkdirTree("/tests");
  for (const name of [...helpers, ...tests]) {
    FS.writeFile(`/tests/${name}`, fs.readFileSync(path.join(UNIT, name)));
  }
  let failed;
  try {
    mp.runPython(
      `import sys\nsys.path.insert(0, "/tests")\nimport mpy_runner\n` +
        `failed = mpy_runner.main(${JSON.stringify(tests)})`,
    );
    failed = mp.globals.get("failed");
  } catch (error) {
    console.error(`MicroPython runner crashed: ${error.message}`);
    failed = 1;
  }
  // The scheduler leaves JavaScript timers behind; do not wait for them.
  process.exit(failed === 0 ? 0 : 1);
}

await main();
