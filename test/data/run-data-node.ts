/** Runs one data node process for main.test.ts: `node --import tsx run-data-node.ts <config> <id>`. */
import { runDataNode } from "../../src/data/index.js";

const [configPath, id] = process.argv.slice(2);
await runDataNode({ configPath: configPath ?? "", id: Number(id) });
