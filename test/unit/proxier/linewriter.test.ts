/**
 * The native line writer (proxier/iptables/native/linewriter.c) on its own: the exact text of both line kinds, the
 * offset it returns, and that it refuses — with a TypeError, writing nothing past its buffer — a call without the
 * room the renderer promises (the lines and two bytes more), a bad offset, a missing target, or parts that are not
 * strings. Then renders with and without it, on a cluster that makes the table buffers grow; the render-text
 * property compares both with the pieces text on random clusters.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import type { EndpointSlice, Service } from "../../../src/api/index.js";
import { type NativeLineWriter, nativeLineWriter, useNativeLineWriter } from "../../../proxier/iptables/linewriter.js";
import { render, renderAsPieces } from "../../../proxier/iptables/render.js";

const node = { name: "n1", ips: ["198.18.0.1"] };

const SEP =
  "-A KUBE-SEP-A -m comment --comment ns/a:p -s 10.0.0.1 -j KUBE-MARK-MASQ\n" +
  "-A KUBE-SEP-A -m comment --comment ns/a:p -m tcp -p tcp -j DNAT --to-destination 10.0.0.1:80\n" +
  "-A KUBE-SEP-BB -m comment --comment ns/a:p -s 10.0.0.22 -j KUBE-MARK-MASQ\n" +
  "-A KUBE-SEP-BB -m comment --comment ns/a:p -m tcp -p tcp -j DNAT --to-destination 10.0.0.22:80\n";

function sep(w: NativeLineWriter, at: number): number {
  return w.sepLines(
    at,
    2,
    ["KUBE-SEP-A", "KUBE-SEP-BB"],
    ["10.0.0.1", "10.0.0.22"],
    ["10.0.0.1:80", "10.0.0.22:80"],
    " -m comment --comment ns/a:p -s ",
    " -m comment --comment ns/a:p -m tcp -p tcp -j DNAT --to-destination ",
  );
}

describe("native line writer", { skip: nativeLineWriter ? false : "not built (no C compiler at build time)" }, () => {
  const w = nativeLineWriter!;

  it("writes the endpoint chains' lines at the offset and returns the offset after them", () => {
    const b = Buffer.alloc(SEP.length + 8, "#");
    w.target(b);
    const end = sep(w, 5);
    assert.equal(end, 5 + SEP.length);
    assert.equal(b.toString("latin1"), `#####${SEP}###`);
  });

  it("writes the service chain's lines: probabilities on all but the last; without endpoints in large-cluster mode", () => {
    const b = Buffer.alloc(400);
    w.target(b);
    const head = '-A KUBE-SVC-X -m comment --comment "ns/a:p -> ';
    const mid = '" -m statistic --mode random --probability ';
    const eps = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"];
    const chains = ["KUBE-SEP-1", "KUBE-SEP-2", "KUBE-SEP-3"];
    const jumps = ["0.3333333333 -j ", "0.5000000000 -j "];
    let end = w.svcLines(0, 3, eps, jumps, chains, head, mid, '" -j ');
    assert.equal(
      b.toString("latin1", 0, end),
      `${head}10.0.0.1:80${mid}0.3333333333 -j KUBE-SEP-1\n` +
        `${head}10.0.0.2:80${mid}0.5000000000 -j KUBE-SEP-2\n` +
        `${head}10.0.0.3:80" -j KUBE-SEP-3\n`,
    );
    end = w.svcLines(
      0,
      2,
      null,
      ["0.5000000000 -j "],
      chains,
      "-A KUBE-SVC-X ",
      "-m statistic --mode random --probability ",
      "-j ",
    );
    assert.equal(
      b.toString("latin1", 0, end),
      "-A KUBE-SVC-X -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-1\n-A KUBE-SVC-X -j KUBE-SEP-2\n",
    );
    assert.equal(w.svcLines(7, 0, [], [], [], "h", "s", "l"), 7, "no endpoints, no lines");
  });

  it("cuts characters to one byte, like Buffer's latin1 write (the renderer checks its parts first)", () => {
    const b = Buffer.alloc(64);
    w.target(b);
    const end = w.svcLines(0, 1, ["caf\u00e9\u0101"], [], ["C"], "", "", " ");
    assert.deepEqual([...b.subarray(0, end)], [...Buffer.from("caf\u00e9\u0101 C\n", "latin1")]);
  });

  it("refuses a call without room for the lines and two bytes more, writing nothing past the buffer", () => {
    const parent = Buffer.alloc(SEP.length + 16, "#");
    // Exactly the lines and one byte: one short. The rest of the parent must stay untouched.
    const short = parent.subarray(0, SEP.length + 1);
    w.target(short);
    assert.throws(() => sep(w, 0), TypeError);
    assert.equal(parent.toString("latin1", SEP.length + 1), "#".repeat(15));
    const enough = parent.subarray(0, SEP.length + 2);
    w.target(enough);
    assert.equal(sep(w, 0), SEP.length);
    assert.equal(parent.toString("latin1", 0, SEP.length), SEP);
    assert.equal(parent.toString("latin1", SEP.length + 2), "#".repeat(14));
  });

  it("refuses bad offsets and parts that are not strings", () => {
    const b = Buffer.alloc(1000);
    w.target(b);
    for (const at of [-1, 1000, 1e9, Number.NaN]) assert.throws(() => sep(w, at), TypeError, String(at));
    assert.throws(() => w.sepLines(0, 1, [7 as unknown as string], ["ip"], ["ep"], "", ""), TypeError);
    assert.throws(() => w.sepLines(0, 2, ["c"], ["ip"], ["ep"], "", ""), TypeError, "fewer parts than n");
    assert.throws(() => w.svcLines(0, 2, null, [], ["a", "b"], "", "", ""), TypeError, "a jump missing");
    assert.throws(() => w.sepLines(0, 1, ["c"], ["ip"], ["ep"], "x".repeat(2000), ""), TypeError, "part too long");
    assert.throws(() => w.target("no buffer" as unknown as Buffer), TypeError);
  });

  it("refuses to write before a target is set (a fresh process)", () => {
    const url = new URL("../../../proxier/iptables/linewriter.js", import.meta.url).href;
    const code = `const { nativeLineWriter: w } = await import(${JSON.stringify(url)});
      try { w.sepLines(0, 0, [], [], [], "", ""); console.log("wrote"); } catch (e) { console.log(e.name); }`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8" });
    assert.equal(r.stdout.trim(), "TypeError", r.stderr);
  });
});

describe("render with and without the native line writer", () => {
  it("gives the same text when the table's buffer grows mid-render (the writer is aimed at each new buffer)", () => {
    // 400 services × 12 endpoints: the nat text (~1.6 MB) outgrows the sink's buffer several times over.
    const services: Service[] = [];
    const slices: EndpointSlice[] = [];
    for (let i = 0; i < 400; i++) {
      const ns = `ns-${i % 7}`;
      services.push({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: `s${i}`, namespace: ns },
        spec: { clusterIP: `10.96.${i >> 8}.${i & 255}`, ports: [{ name: "p", port: 80, protocol: "TCP" }] },
      });
      slices.push({
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: `s${i}-x`, namespace: ns, labels: { "kubernetes.io/service-name": `s${i}` } },
        addressType: "IPv4",
        endpoints: Array.from({ length: 12 }, (_, j) => ({ addresses: [`10.244.${i >> 4}.${(i & 15) * 16 + j}`] })),
        ports: [{ name: "p", port: 8080, protocol: "TCP" }],
      });
    }
    const input = () => ({ services: structuredClone(services), endpointSlices: structuredClone(slices), node });
    for (const threshold of [1_000_000, 1000]) {
      const opts = { clusterCIDRs: ["10.244.0.0/16"], largeClusterEndpointsThreshold: threshold };
      const want = renderAsPieces(input(), opts).payload;
      assert.ok(want.length > 1_000_000, `${want.length} bytes`);
      assert.equal(render(input(), opts).payload, want);
      try {
        useNativeLineWriter(false);
        assert.equal(render(input(), opts).payload, want);
      } finally {
        useNativeLineWriter(true);
      }
    }
  });
});
