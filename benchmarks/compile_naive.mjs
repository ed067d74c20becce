// Compile the benchmark-only contract(s) in benchmarks/contracts/ with the project's pinned
// solc-js and the same settings as scripts/compile_contracts.mjs; print {name: {abi, bytecode}}
// as JSON on stdout (nothing is written to disk, so no artifact can go stale). They may import
// the project's libraries (contracts/utils/...): imports resolve from the repository root.
// Usage: node benchmarks/compile_naive.mjs
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(here, "..");
const require = createRequire(path.join(root, "package.json"));
const solc = require("solc");

const dir = path.join(here, "contracts");
const sources = {};
for (const f of fs.readdirSync(dir).sort()) {
  if (f.endsWith(".sol")) sources[`benchmarks/contracts/${f}`] = { content: fs.readFileSync(path.join(dir, f), "utf8") };
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    evmVersion: "cancun",
    optimizer: { enabled: true, runs: 10000 },
    viaIR: true,
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
function findImports(p) {
  for (const base of [root, path.join(root, "node_modules")]) {
    const full = path.join(base, p);
    if (fs.existsSync(full)) return { contents: fs.readFileSync(full, "utf8") };
  }
  return { error: `not found: ${p}` };
}
const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (out.errors ?? []).filter((e) => e.severity === "error");
for (const e of out.errors ?? []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);
const result = { compiler: `solc-js ${solc.version()}` , contracts: {} };
for (const contracts of Object.values(out.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    result.contracts[name] = { abi: c.abi, bytecode: "0x" + c.evm.bytecode.object };
  }
}
process.stdout.write(JSON.stringify(result));
