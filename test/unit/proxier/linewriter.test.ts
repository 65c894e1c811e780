/**
 * The native line writer (proxier/iptables/native/linewriter.c) on its own: the packing of a port's endpoints, the
 * exact text of both line kinds, the offset it returns, and that it refuses — with a TypeError, writing nothing past
 * its buffer — a call without room for the lines, a bad offset, a missing target, malformed records, or parts that
 * are not strings. Then renders with and without it, on a cluster that makes the table buffers grow; the render-text
 * property compares both with the pieces text on random clusters.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import type { EndpointSlice, Service } from "../../../src/api/index.js";
import {
  type NativeLineWriter,
  nativeLineWriter,
  packEndpoints,
  useNativeLineWriter,
} from "../../../proxier/iptables/linewriter.js";
import { render, renderAsPieces } from "../../../proxier/iptables/render.js";

const node = { name: "n1", ips: ["198.18.0.1"] };

const SEP =
  "-A KUBE-SEP-A -m comment --comment ns/a:p -s 10.0.0.1 -j KUBE-MARK-MASQ\n" +
  "-A KUBE-SEP-A -m comment --comment ns/a:p -m tcp -p tcp -j DNAT --to-destination 10.0.0.1:80\n" +
  "-A KUBE-SEP-BB -m comment --comment ns/a:p -s 10.0.0.22 -j KUBE-MARK-MASQ\n" +
  "-A KUBE-SEP-BB -m comment --comment ns/a:p -m tcp -p tcp -j DNAT --to-destination 10.0.0.22:80\n";
const MASQ_MID = " -m comment --comment ns/a:p -s ";
const DNAT_MID = " -m comment --comment ns/a:p -m tcp -p tcp -j DNAT --to-destination ";
const TWO = packEndpoints([
  { chain: "KUBE-SEP-A", ip: "10.0.0.1", endpoint: "10.0.0.1:80" },
  { chain: "KUBE-SEP-BB", ip: "10.0.0.22", endpoint: "10.0.0.22:80" },
]);

function sep(w: NativeLineWriter, at: number, packed = TWO.text): number {
  return w.sepLines(at, packed, MASQ_MID, DNAT_MID);
}

describe("native line writer", { skip: nativeLineWriter ? false : "not built (no C compiler at build time)" }, () => {
  const w = nativeLineWriter!;

  it("packs a list once: `CHAIN IP ENDPOINT\\n` per endpoint, with the characters the lines need", () => {
    assert.equal(TWO.text, "KUBE-SEP-A 10.0.0.1 10.0.0.1:80\nKUBE-SEP-BB 10.0.0.22 10.0.0.22:80\n");
    assert.deepEqual([TWO.count, TWO.chainChars, TWO.endpointChars], [2, 21, 23]);
    const list = [{ chain: "C", ip: "1.1.1.1", endpoint: "1.1.1.1:1" }];
    assert.equal(packEndpoints(list), packEndpoints(list), "the same list: packed once");
    assert.notEqual(packEndpoints([...list]), packEndpoints(list), "another list: packed anew");
  });

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
    const three = packEndpoints(
      [1, 2, 3].map((i) => ({ chain: `KUBE-SEP-${i}`, ip: `10.0.0.${i}`, endpoint: `10.0.0.${i}:80` })),
    );
    const jumps = "0.3333333333 -j \n0.5000000000 -j \n";
    let end = w.svcLines(0, three.text, jumps, head, mid, '" -j ', true);
    assert.equal(
      b.toString("latin1", 0, end),
      `${head}10.0.0.1:80${mid}0.3333333333 -j KUBE-SEP-1\n` +
        `${head}10.0.0.2:80${mid}0.5000000000 -j KUBE-SEP-2\n` +
        `${head}10.0.0.3:80" -j KUBE-SEP-3\n`,
    );
    end = w.svcLines(
      0,
      TWO.text,
      "0.5000000000 -j \n",
      "-A KUBE-SVC-X ",
      "-m statistic --mode random --probability ",
      "-j ",
      false,
    );
    assert.equal(
      b.toString("latin1", 0, end),
      "-A KUBE-SVC-X -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-A\n-A KUBE-SVC-X -j KUBE-SEP-BB\n",
    );
    assert.equal(w.svcLines(7, "", "", "h", "s", "l", true), 7, "no endpoints, no lines");
  });

  it("reads a port's packed endpoints whole, however many", () => {
    const list = Array.from({ length: 5000 }, (_, i) => ({
      chain: `KUBE-SEP-${String(i).padStart(16, "X")}`,
      ip: `10.${i >> 8}.${i & 255}.1`,
      endpoint: `10.${i >> 8}.${i & 255}.1:8080`,
    }));
    const want = list
      .map((e) => `-A ${e.chain}${MASQ_MID}${e.ip} -j KUBE-MARK-MASQ\n-A ${e.chain}${DNAT_MID}${e.endpoint}\n`)
      .join("");
    const b = Buffer.alloc(want.length);
    w.target(b);
    assert.equal(sep(w, 0, packEndpoints(list).text), want.length, "room for exactly the lines is enough");
    assert.equal(b.toString("latin1"), want);
  });

  it("takes constant parts of any length (a long service name in a hand-written file)", () => {
    const long = ` -m comment --comment ${"n".repeat(3000)} -s `;
    const b = Buffer.alloc(10_000);
    w.target(b);
    const end = w.sepLines(0, TWO.text, long, DNAT_MID);
    assert.equal(
      b.toString("latin1", 0, end),
      `-A KUBE-SEP-A${long}10.0.0.1 -j KUBE-MARK-MASQ\n-A KUBE-SEP-A${DNAT_MID}10.0.0.1:80\n` +
        `-A KUBE-SEP-BB${long}10.0.0.22 -j KUBE-MARK-MASQ\n-A KUBE-SEP-BB${DNAT_MID}10.0.0.22:80\n`,
    );
  });

  it("cuts characters to one byte, like Buffer's latin1 write (the renderer checks its parts first)", () => {
    const b = Buffer.alloc(64);
    w.target(b);
    const end = w.svcLines(0, "C ip caf\u00e9\u0101\n", "", "", "", " ", true);
    assert.deepEqual([...b.subarray(0, end)], [...Buffer.from("caf\u00e9\u0101 C\n", "latin1")]);
  });

  it("refuses a call without room for the lines, writing nothing past the buffer", () => {
    const parent = Buffer.alloc(SEP.length + 16, "#");
    w.target(parent.subarray(0, SEP.length - 1)); // one byte short; the rest of the parent must stay untouched
    assert.throws(() => sep(w, 0), TypeError);
    assert.equal(parent.toString("latin1", SEP.length - 1), "#".repeat(17));
    w.target(parent.subarray(0, SEP.length));
    assert.equal(sep(w, 0), SEP.length);
    assert.equal(parent.toString("latin1"), `${SEP}${"#".repeat(16)}`);
  });

  it("refuses bad offsets, malformed records and parts that are not strings", () => {
    const b = Buffer.alloc(1000);
    w.target(b);
    for (const at of [-1, 1001, 1e9, Number.NaN]) assert.throws(() => sep(w, at), TypeError, String(at));
    assert.throws(() => sep(w, 0, "KUBE-SEP-A 10.0.0.1 10.0.0.1:80"), TypeError, "no newline");
    assert.throws(() => sep(w, 0, "KUBE-SEP-A 10.0.0.1:80\n"), TypeError, "a field missing");
    assert.throws(() => w.sepLines(0, 7 as unknown as string, "", ""), TypeError);
    assert.throws(() => w.svcLines(0, TWO.text, "", "", "", "", true), TypeError, "a jump missing");
    assert.throws(() => w.target("no buffer" as unknown as Buffer), TypeError);
  });

  it("refuses to write before a target is set (a fresh process)", () => {
    const url = new URL("../../../proxier/iptables/linewriter.js", import.meta.url).href;
    const code = `const { nativeLineWriter: w } = await import(${JSON.stringify(url)});
      try { w.sepLines(0, "", "", ""); console.log("wrote"); } catch (e) { console.log(e.name); }`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8" });
    assert.equal(r.stdout.trim(), "TypeError", r.stderr);
  });
});

describe("render with and without the native line writer", () => {
  it("renders a port given as text with a space or a newline (a hand-written file) like the pieces path", () => {
    const svc: Service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "s", namespace: "ns" },
      spec: { clusterIP: "10.96.0.1", ports: [{ name: "p", port: 80, protocol: "TCP" }] },
    };
    for (const port of ["80\n-A X", "8 0", "\u00e980"]) {
      const slice: EndpointSlice = {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: "s-x", namespace: "ns", labels: { "kubernetes.io/service-name": "s" } },
        addressType: "IPv4",
        endpoints: [{ addresses: ["10.244.0.1"] }, { addresses: ["10.244.0.2"] }],
        ports: [{ name: "p", port: port as unknown as number, protocol: "TCP" }],
      };
      const input = () => ({ services: [structuredClone(svc)], endpointSlices: [structuredClone(slice)], node });
      const want = renderAsPieces(input(), {}).payload;
      assert.ok(want.includes(`10.244.0.2:${port}`), JSON.stringify(port));
      assert.equal(render(input(), {}).payload, want, JSON.stringify(port));
    }
  });

  it("renders a service with a very long name (no API validation on an objects file) like the pieces path", () => {
    const name = "s".repeat(2000);
    const input = () => ({
      services: [
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name, namespace: "ns" },
          spec: { clusterIP: "10.96.0.1", ports: [{ name: "p", port: 80, protocol: "TCP" }] },
        } satisfies Service,
      ],
      endpointSlices: [
        {
          apiVersion: "discovery.k8s.io/v1",
          kind: "EndpointSlice",
          metadata: { name: "s-x", namespace: "ns", labels: { "kubernetes.io/service-name": name } },
          addressType: "IPv4",
          endpoints: [{ addresses: ["10.244.0.1"] }, { addresses: ["10.244.0.2"] }],
          ports: [{ name: "p", port: 8080, protocol: "TCP" }],
        } satisfies EndpointSlice,
      ],
      node,
    });
    const want = renderAsPieces(input(), {}).payload;
    assert.ok(want.includes(`ns/${name}:p -> 10.244.0.2:8080`));
    assert.equal(render(input(), {}).payload, want);
  });

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
