// Compile contracts/*.sol with the pinned solc-js and write ABI + bytecode artifacts that the
// Python package ships. Usage: node scripts/compile_contracts.mjs [OUT_DIR]
// The output is deterministic (same sources + same compiler = same bytes), which is what the
// staleness test relies on.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const solc = require("solc");
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const outDir = path.resolve(process.argv[2] ?? path.join(root, "src/fedchain/contracts/artifacts"));
const SHIPPED = ["FedToken", "TaskCoordinator", "SecAggPhases", "CoordinatorLens", "RoundDisputes", "SecureTerms"];

const sources = {};
for (const f of fs.readdirSync(path.join(root, "contracts"), { recursive: true }).sort()) {
  if (f.endsWith(".sol")) sources[`contracts/${f}`] = { content: fs.readFileSync(path.join(root, "contracts", f), "utf8") };
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    evmVersion: "cancun",
    optimizer: { enabled: true, runs: 1000 },
    viaIR: true,
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
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
for (const e of out.errors ?? []) {
  if (e.severity === "error" || !String(e.sourceLocation?.file ?? "").startsWith("@openzeppelin")) console.error(e.formattedMessage);
}
if (errors.length) process.exit(1);
fs.mkdirSync(outDir, { recursive: true });
// The coordinator serves its modules' selectors (forwarded by DELEGATECALL from its fallback), so
// its shipped ABI is the union of its own and theirs: clients call one address.
const MODULES = { TaskCoordinator: ["SecAggPhases", "CoordinatorLens"] };
const byName = {};
for (const contracts of Object.values(out.contracts)) Object.assign(byName, contracts);
function abiOf(name) {
  const seen = new Set();
  const items = [];
  for (const n of [name, ...(MODULES[name] ?? [])]) {
    for (const item of byName[n].abi) {
      if (item.type === "constructor" && n !== name) continue;
      const key = JSON.stringify([item.type, item.name, (item.inputs ?? []).map((i) => i.type)]);
      if (!seen.has(key)) { seen.add(key); items.push(item); }
    }
  }
  return items;
}
for (const [file, contracts] of Object.entries(out.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    if (!SHIPPED.includes(name)) continue;
    const artifact = {
      contractName: name,
      sourceName: file,
      compiler: `solc-js ${solc.version()}`,
      evmVersion: input.settings.evmVersion,
      abi: abiOf(name),
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
    };
    fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 1) + "\n");
  }
}
console.log(`compiled ${Object.keys(sources).length} sources with solc ${solc.version()} -> ${outDir}`);
