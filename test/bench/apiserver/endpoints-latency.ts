/**
 * EndpointSlice/Endpoints controller latency, behind a real `podwire server` (controllers endpointslice +
 * endpoints, no scheduler): with P ready pods present (labels app=a<i % groups>), create S Services from 8
 * concurrent clients (like `kubectl apply` of many services; each selects one label group) and measure, per
 * Service, create acknowledged → its EndpointSlice (with endpoints) seen on a watch, and → its Endpoints seen.
 * sqlite and etcd back-ends side by side in one run; the programming-latency target (200 ms for the whole
 * path to the kernel) is printed as the reference.
 * Run: npm run build && node dist/test/bench/apiserver/endpoints-latency.js [services=1000] [pods=1000] [sqlite|etcd]
 * (a third argument runs one back-end only, for profiling with PODWIRE_SERVER_NODE_ARGS="--cpu-prof …").
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { type ServerProcess, startServerProcess } from "../../e2e/kubectl/server-process.js";
import { startEtcdCluster } from "../../integration/apiserver/etcd-cluster.js";
import { serverClient } from "../../support/apiserver-client.js";
import { cpuMs } from "./cpu.js";
import { pct } from "../percentile.js";

const nServices = Number(process.argv[2] ?? 1000);
const nPods = Number(process.argv[3] ?? 1000);
const groups = Math.max(1, Math.min(100, nPods));
const clients = 8;

interface Result {
  createsPerSec: number;
  cpuPerService: number;
  sliceP50: number;
  sliceP99: number;
  sliceMax: number;
  epP50: number;
  epP99: number;
  seen: number;
}

async function run(label: string, srv: ServerProcess): Promise<Result> {
  const { call, token, ca, agent } = serverClient(srv);
  const must = async (method: string, path: string, body: unknown, want: number) => {
    const r = await call(method, path, body);
    if (r.status !== want) throw new Error(`${label}: ${method} ${path} → ${r.status} ${r.text.slice(0, 300)}`);
    return JSON.parse(r.text) as { metadata: { resourceVersion: string } };
  };
  const ns = "bench";
  await must("POST", "/api/v1/namespaces", { metadata: { name: ns } }, 201);
  await must(
    "POST",
    "/api/v1/nodes",
    { metadata: { name: "n1" }, status: { conditions: [{ type: "Ready", status: "True" }] } },
    201,
  );
  // Ready pods with IPs (what a kubelet would report), 16 at a time.
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (;;) {
        const i = next++;
        if (i >= nPods) return;
        const name = `p${i}`;
        const pod = await must(
          "POST",
          `/api/v1/namespaces/${ns}/pods`,
          {
            metadata: { name, labels: { app: `a${i % groups}` } },
            spec: { nodeName: "n1", containers: [{ name: "c", image: "pause", ports: [{ containerPort: 8080 }] }] },
          },
          201,
        );
        const ip = `10.244.${Math.floor(i / 250)}.${(i % 250) + 2}`;
        await must(
          "PUT",
          `/api/v1/namespaces/${ns}/pods/${name}/status`,
          {
            ...pod,
            status: {
              phase: "Running",
              podIP: ip,
              podIPs: [{ ip }],
              conditions: [{ type: "Ready", status: "True" }],
            },
          },
          200,
        );
      }
    }),
  );
  // Let the controllers settle (no services yet: nothing to do) before the clock starts.
  await new Promise((r) => setTimeout(r, 1000));

  const rv = (await must("GET", `/api/v1/namespaces/${ns}/services`, undefined, 200)).metadata.resourceVersion;
  const created = new Map<string, number>();
  const sliceSeen = new Map<string, number>();
  const epSeen = new Map<string, number>();
  const wagent = new Agent({ keepAlive: true, maxSockets: 4 });
  const streams: { destroy(): void }[] = [];
  const watch = (path: string, onObject: (o: Record<string, unknown>) => void) =>
    new Promise<void>((resolve, reject) => {
      const r = request(
        {
          host: "127.0.0.1",
          port: srv.port,
          path: `${path}?watch=true&resourceVersion=${rv}`,
          headers: { Authorization: `Bearer ${token}` },
          ca,
          agent: wagent,
        },
        (res) => {
          let buf = "";
          res.on("data", (c: Buffer) => {
            buf += c.toString();
            let i = buf.indexOf("\n");
            while (i >= 0) {
              const ev = JSON.parse(buf.slice(0, i)) as { object: Record<string, unknown> };
              buf = buf.slice(i + 1);
              onObject(ev.object);
              i = buf.indexOf("\n");
            }
          });
          resolve();
        },
      );
      r.on("error", reject);
      r.end();
      streams.push(r);
    });
  type Meta = { name: string; labels?: Record<string, string> };
  await watch(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, (o) => {
    const svc = (o.metadata as Meta).labels?.["kubernetes.io/service-name"];
    const eps = o.endpoints as unknown[] | null | undefined;
    if (svc && eps && eps.length > 0 && !sliceSeen.has(svc)) sliceSeen.set(svc, performance.now());
  });
  await watch(`/api/v1/namespaces/${ns}/endpoints`, (o) => {
    const name = (o.metadata as Meta).name;
    const subsets = o.subsets as unknown[] | null | undefined;
    if (subsets && subsets.length > 0 && !epSeen.has(name)) epSeen.set(name, performance.now());
  });
  await new Promise((r) => setTimeout(r, 200));

  next = 0;
  const cpu0 = cpuMs(srv.proc.pid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (;;) {
        const i = next++;
        if (i >= nServices) return;
        const name = `s${i}`;
        await must(
          "POST",
          `/api/v1/namespaces/${ns}/services`,
          {
            metadata: { name },
            spec: { selector: { app: `a${i % groups}` }, ports: [{ port: 80, targetPort: 8080, protocol: "TCP" }] },
          },
          201,
        );
        created.set(name, performance.now());
      }
    }),
  );
  const createsPerSec = nServices / ((performance.now() - t0) / 1000);
  const deadline = Date.now() + 120_000;
  while ((sliceSeen.size < nServices || epSeen.size < nServices) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  const cpuPerService = (cpuMs(srv.proc.pid) - cpu0) / nServices;
  for (const s of streams) s.destroy();
  agent.destroy();
  wagent.destroy();
  const lat = (seen: Map<string, number>) =>
    [...created].filter(([n]) => seen.has(n)).map(([n, t]) => (seen.get(n) as number) - t);
  const sl = lat(sliceSeen);
  const el = lat(epSeen);
  if (sl.length < nServices) console.error(`${label}: only ${sl.length}/${nServices} EndpointSlices seen`);
  return {
    createsPerSec,
    cpuPerService,
    sliceP50: pct(sl, 50),
    sliceP99: pct(sl, 99),
    sliceMax: Math.max(...sl),
    epP50: pct(el, 50),
    epP99: pct(el, 99),
    seen: sl.length,
  };
}

const loadBefore = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const ctl = ["--controllers", "endpointslice,endpoints"];
const only = process.argv[4];
const none: Result = {
  createsPerSec: Number.NaN,
  cpuPerService: Number.NaN,
  sliceP50: Number.NaN,
  sliceP99: Number.NaN,
  sliceMax: Number.NaN,
  epP50: Number.NaN,
  epP99: Number.NaN,
  seen: 0,
};
let a: Result = none;
let b: Result = none;
if (only !== "etcd") {
  const sqlite = await startServerProcess(ctl);
  try {
    a = await run("sqlite", sqlite);
  } finally {
    await sqlite.cleanup();
  }
}
const etcd = only === "sqlite" ? undefined : await startEtcdCluster(1);
if (etcd)
  try {
    const srv = await startServerProcess([...ctl, "--storage", "etcd", "--etcd-endpoints", etcd.endpoints.join(",")]);
    try {
      b = await run("etcd", srv);
    } finally {
      await srv.cleanup();
    }
  } finally {
    await etcd.stop();
  }
const rows: [string, keyof Result][] = [
  [`service creates/s (${clients} clients)`, "createsPerSec"],
  ["server CPU ms per service (create → slice + endpoints)", "cpuPerService"],
  ["Service → EndpointSlice, p50 ms", "sliceP50"],
  ["Service → EndpointSlice, p99 ms", "sliceP99"],
  ["Service → EndpointSlice, max ms", "sliceMax"],
  ["Service → Endpoints, p50 ms", "epP50"],
  ["Service → Endpoints, p99 ms", "epP99"],
];
console.log(
  `load before: ${loadBefore}; after: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`,
);
console.log(
  `${nServices} services over ${nPods} ready pods (${groups} label groups)\n| metric | sqlite | etcd (1 member) | sqlite/etcd |\n|---|---|---|---|`,
);
for (const [name, key] of rows)
  console.log(`| ${name} | ${a[key].toFixed(1)} | ${b[key].toFixed(1)} | ${(a[key] / b[key]).toFixed(2)} |`);
console.log(
  `Service → EndpointSlice p50 / 200 ms (issue #8's target for the whole path to the kernel): sqlite ${(a.sliceP50 / 200).toFixed(2)}, etcd ${(b.sliceP50 / 200).toFixed(2)}`,
);
