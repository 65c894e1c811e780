/**
 * Render-only timing (no kernel): cold renders on fresh objects and warm re-renders, for profiling
 * (`node --cpu-prof dist/test/bench/proxier-scale/render-only.js 10000`).
 */
import { performance } from "node:perf_hooks";
import { render } from "../../../proxier/iptables/render.js";
import { objects } from "./objects.js";

const n = Number(process.argv[2] ?? "10000");
const runs = Number(process.argv[3] ?? "3");
const opts = { clusterCIDRs: ["10.128.0.0/10"] };
for (let k = 0; k < runs; k++) {
  const { services, slices } = objects(n);
  const input = { services, endpointSlices: slices, node: { name: "bench-node", ips: ["198.18.0.1"] } };
  const c0 = process.cpuUsage();
  const t = performance.now();
  const p = render(input, opts).payload;
  const cold = performance.now() - t;
  const c1 = process.cpuUsage(c0);
  const t2 = performance.now();
  void render(input, opts).payload;
  const warm = performance.now() - t2;
  const cpu = (c1.user + c1.system) / 1000;
  console.log(
    `n=${n} cold ${cold.toFixed(1)} ms (cpu ${cpu.toFixed(1)} ms), warm ${warm.toFixed(1)} ms, ${p.length} bytes`,
  );
}
