import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Container, Pod, Service } from "../../../src/api/core.js";
import {
  buildContainerEnv,
  type ContainerEnvResult,
  type EnvSources,
  envVarName,
  expand,
  expandArgv,
  isEnvVarName,
  referencedSources,
  secretEnvData,
  serviceEnvForPod,
} from "../../../src/kubelet/envvars.js";
import { runs } from "../../support/runs.js";

function svc(ns: string, name: string, ip: string, ports: Service["spec"]["ports"]): Service {
  return { apiVersion: "v1", kind: "Service", metadata: { namespace: ns, name }, spec: { clusterIP: ip, ports } };
}
function pod(ns: string, extra: Partial<Pod["spec"]> = {}): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: ns, name: "p1", uid: "u1" },
    spec: { containers: [{ name: "c" }], nodeName: "n1", ...extra },
  };
}

describe("service environment variables", () => {
  const services = [
    svc("default", "kubernetes", "10.96.0.1", [{ name: "https", port: 443, protocol: "TCP" }]),
    svc("app", "my-web", "10.96.3.4", [
      { name: "http", port: 80, protocol: "TCP" },
      { name: "dns", port: 53, protocol: "UDP" },
    ]),
    svc("app", "headless", "None", [{ port: 80 }]),
    svc("other", "elsewhere", "10.96.9.9", [{ port: 1 }]),
  ];
  it("follows kubelet naming for host, ports and docker-link vars", () => {
    const env = serviceEnvForPod(pod("app"), services);
    assert.equal(env.get("MY_WEB_SERVICE_HOST"), "10.96.3.4");
    assert.equal(env.get("MY_WEB_SERVICE_PORT"), "80");
    assert.equal(env.get("MY_WEB_SERVICE_PORT_HTTP"), "80");
    assert.equal(env.get("MY_WEB_SERVICE_PORT_DNS"), "53");
    assert.equal(env.get("MY_WEB_PORT"), "tcp://10.96.3.4:80");
    assert.equal(env.get("MY_WEB_PORT_53_UDP"), "udp://10.96.3.4:53");
    assert.equal(env.get("MY_WEB_PORT_53_UDP_PROTO"), "udp");
    assert.equal(env.get("MY_WEB_PORT_80_TCP_PORT"), "80");
    assert.equal(env.get("MY_WEB_PORT_80_TCP_ADDR"), "10.96.3.4");
    assert.equal(env.get("KUBERNETES_SERVICE_HOST"), "10.96.0.1", "kubernetes service is always present");
    assert.equal(env.get("KUBERNETES_PORT_443_TCP"), "tcp://10.96.0.1:443");
  });
  it("skips headless services and other namespaces", () => {
    const env = serviceEnvForPod(pod("app"), services);
    assert.equal(env.has("HEADLESS_SERVICE_HOST"), false);
    assert.equal(env.has("ELSEWHERE_SERVICE_HOST"), false);
  });
  it("enableServiceLinks=false keeps only the kubernetes service", () => {
    const env = serviceEnvForPod(pod("app", { enableServiceLinks: false }), services);
    assert.equal(env.has("MY_WEB_SERVICE_HOST"), false);
    assert.equal(env.get("KUBERNETES_SERVICE_HOST"), "10.96.0.1");
  });
  it("names: dashes become underscores, upper case", () => assert.equal(envVarName("a-b-c"), "A_B_C"));
});

function okEnv(r: ContainerEnvResult): Map<string, string> {
  if (!r.ok) throw new Error(`expected env, got error: ${r.message}`);
  return r.env;
}
function errOf(r: ContainerEnvResult): string {
  assert.equal(r.ok, false, "expected a config error");
  return r.ok ? "" : r.message;
}

describe("$(VAR) expansion (Kubernetes' forked golang expansion rules)", () => {
  const env = new Map([
    ["A", "1"],
    ["EMPTY", ""],
  ]);
  it("expands defined names, escapes $$, keeps unknown references", () => {
    assert.equal(expand("x$(A)y$(B)z$$(A)", env), "x1y$(B)z$(A)");
  });
  it("a defined empty value expands to nothing", () => assert.equal(expand("<$(EMPTY)>", env), "<>"));
  it("a lone $ or $ before another character is kept", () => {
    assert.equal(expand("cost $5 and $", env), "cost $5 and $");
  });
  it("an unterminated reference is kept and scanning continues after it", () => {
    assert.equal(expand("$(A$$", env), "$(A$");
    assert.equal(expand("$(A", env), "$(A");
  });
  it("the name runs to the first closing paren; $() is kept", () => {
    assert.equal(expand("$($(A))", env), "$($(A))");
    assert.equal(expand("$()", env), "$()");
  });
  it("property: doubling every $ makes any string expand to itself", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("$", "(", ")", "A", "B", "x", " ") }), (s) => {
        assert.equal(expand(s.replaceAll("$", "$$$$"), env), s);
      }),
      { numRuns: runs(2000, 300) },
    );
  });
  it("property: a string without $ is unchanged", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const t = s.replaceAll("$", "");
        assert.equal(expand(t, env), t);
      }),
      { numRuns: runs(2000, 300) },
    );
  });
});

function withContainer(c: Partial<Container>, ns = "app"): { p: Pod; c: Container } {
  const p = pod(ns);
  p.metadata.labels = { app: "web", tier: "front" };
  p.spec.serviceAccountName = "builder";
  const full: Container = { name: "c", ...c };
  p.spec.containers = [full];
  return { p, c: full };
}

const cm = (data: Record<string, string>) => data;
function sources(
  cms: Record<string, Record<string, string> | null>,
  secrets: Record<string, Record<string, string> | null> = {},
): EnvSources {
  return { configMaps: new Map(Object.entries(cms)), secrets: new Map(Object.entries(secrets)) };
}

describe("container env: fieldRef, configMapKeyRef, secretKeyRef, envFrom", () => {
  const services = [svc("default", "kubernetes", "10.96.0.1", [{ port: 443 }])];
  it("resolves fieldRefs (downward API) and refers to service vars", () => {
    const f = (fieldPath: string) => ({ fieldRef: { fieldPath } });
    const { p, c } = withContainer({
      env: [
        { name: "NAME", valueFrom: f("metadata.name") },
        { name: "NS", valueFrom: f("metadata.namespace") },
        { name: "UID", valueFrom: f("metadata.uid") },
        { name: "APP", valueFrom: f("metadata.labels['app']") },
        { name: "NOLABEL", valueFrom: f("metadata.labels['nope']") },
        { name: "NODE", valueFrom: f("spec.nodeName") },
        { name: "SA", valueFrom: f("spec.serviceAccountName") },
        { name: "IP", valueFrom: f("status.podIP") },
        { name: "HOST", valueFrom: f("status.hostIP") },
        { name: "URL", value: "http://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)/$(NAME)" },
      ],
    });
    const env = okEnv(buildContainerEnv(p, c, services, { podIP: "10.244.1.5", hostIP: "198.18.0.2" }));
    assert.equal(env.get("NAME"), "p1");
    assert.equal(env.get("NS"), "app");
    assert.equal(env.get("UID"), "u1");
    assert.equal(env.get("APP"), "web");
    assert.equal(env.get("NOLABEL"), "");
    assert.equal(env.get("NODE"), "n1");
    assert.equal(env.get("SA"), "builder");
    assert.equal(env.get("IP"), "10.244.1.5");
    assert.equal(env.get("HOST"), "198.18.0.2");
    assert.equal(env.get("URL"), "http://10.96.0.1:443/p1");
  });
  it("an env value sees earlier entries only (a later name stays a literal reference)", () => {
    const { p, c } = withContainer({
      env: [
        { name: "A", value: "$(B)-x" },
        { name: "B", value: "b" },
        { name: "C", value: "$(B)-$(A)" },
      ],
    });
    const env = okEnv(buildContainerEnv(p, c, []));
    assert.equal(env.get("A"), "$(B)-x");
    assert.equal(env.get("C"), "b-$(B)-x");
  });
  it("configMapKeyRef and secretKeyRef read the fetched data; optional misses are skipped", () => {
    const { p, c } = withContainer({
      env: [
        { name: "LEVEL", valueFrom: { configMapKeyRef: { name: "cfg", key: "level" } } },
        { name: "PASS", valueFrom: { secretKeyRef: { name: "creds", key: "password" } } },
        { name: "OPT_KEY", valueFrom: { configMapKeyRef: { name: "cfg", key: "absent", optional: true } } },
        { name: "OPT_CM", valueFrom: { configMapKeyRef: { name: "nocm", key: "k", optional: true } } },
        { name: "OPT_SEC", valueFrom: { secretKeyRef: { name: "nosec", key: "k", optional: true } } },
      ],
    });
    const secret = secretEnvData({ data: { password: Buffer.from("s3cr3t\n").toString("base64") } });
    const env = okEnv(
      buildContainerEnv(p, c, [], {}, sources({ cfg: cm({ level: "debug" }), nocm: null }, { creds: secret })),
    );
    assert.equal(env.get("LEVEL"), "debug");
    assert.equal(env.get("PASS"), "s3cr3t\n", "secret value decoded from base64, kept byte for byte");
    for (const k of ["OPT_KEY", "OPT_CM", "OPT_SEC"]) assert.equal(env.has(k), false, `${k} skipped`);
  });
  it("a missing required ConfigMap, Secret or key fails with the kubelet's message", () => {
    const ref = (e: Container["env"]) => withContainer({ env: e });
    let t = ref([{ name: "X", valueFrom: { configMapKeyRef: { name: "cm", key: "k" } } }]);
    assert.equal(errOf(buildContainerEnv(t.p, t.c, [], {}, sources({ cm: null }))), 'configmap "cm" not found');
    assert.equal(
      errOf(buildContainerEnv(t.p, t.c, [], {}, sources({}))),
      'configmap "cm" not found',
      "unfetched = missing",
    );
    assert.equal(
      errOf(buildContainerEnv(t.p, t.c, [], {}, sources({ cm: { other: "1" } }))),
      "couldn't find key k in ConfigMap app/cm",
    );
    t = ref([{ name: "X", valueFrom: { secretKeyRef: { name: "s", key: "k" } } }]);
    assert.equal(errOf(buildContainerEnv(t.p, t.c, [], {}, sources({}, { s: null }))), 'secret "s" not found');
    assert.equal(
      errOf(buildContainerEnv(t.p, t.c, [], {}, sources({}, { s: {} }))),
      "couldn't find key k in Secret app/s",
    );
  });
  it("envFrom: prefix, order (service < envFrom in order < env), invalid names skipped", () => {
    const { p, c } = withContainer({
      envFrom: [
        { configMapRef: { name: "one" } },
        { prefix: "DB_", secretRef: { name: "db" } },
        { configMapRef: { name: "two" } },
        { configMapRef: { name: "gone", optional: true } },
      ],
      env: [
        { name: "SHARED", value: "from-env" },
        { name: "REF", value: "$(DB_USER)@$(KUBERNETES_SERVICE_HOST)" },
      ],
    });
    const r = buildContainerEnv(
      p,
      c,
      services,
      {},
      sources(
        {
          one: { FIRST: "1", SHARED: "one", OVER: "one", "1BAD": "x", KUBERNETES_SERVICE_PORT: "9999" },
          two: { OVER: "two" },
        },
        { db: { USER: "admin", "2ND": "ok-with-prefix" } },
      ),
    );
    assert.equal(r.ok, true);
    if (!r.ok) return;
    assert.equal(r.env.get("FIRST"), "1");
    assert.equal(r.env.get("OVER"), "two", "a later envFrom source wins");
    assert.equal(r.env.get("SHARED"), "from-env", "env wins over envFrom");
    assert.equal(r.env.get("DB_USER"), "admin", "secret with prefix");
    assert.equal(r.env.get("DB_2ND"), "ok-with-prefix", "prefix makes a key valid");
    assert.equal(r.env.get("KUBERNETES_SERVICE_PORT"), "9999", "envFrom wins over service variables");
    assert.equal(r.env.get("REF"), "admin@10.96.0.1", "env values expand envFrom and service vars");
    assert.deepEqual(r.invalidKeys, ["1BAD"]);
    assert.equal(r.env.has("1BAD"), false);
  });
  it("envFrom of a missing required ConfigMap/Secret fails; optional is skipped", () => {
    let t = withContainer({ envFrom: [{ configMapRef: { name: "cm" } }] });
    assert.equal(errOf(buildContainerEnv(t.p, t.c, [], {}, sources({ cm: null }))), 'configmap "cm" not found');
    t = withContainer({ envFrom: [{ secretRef: { name: "s" } }] });
    assert.equal(errOf(buildContainerEnv(t.p, t.c, [], {}, sources({}, { s: null }))), 'secret "s" not found');
    t = withContainer({ envFrom: [{ secretRef: { name: "s", optional: true } }] });
    assert.equal(buildContainerEnv(t.p, t.c, [], {}, sources({}, { s: null })).ok, true);
  });
  it("referencedSources lists each ConfigMap/Secret once, from env and envFrom", () => {
    const { c } = withContainer({
      envFrom: [{ configMapRef: { name: "a" } }, { secretRef: { name: "s" } }],
      env: [
        { name: "X", valueFrom: { configMapKeyRef: { name: "a", key: "k" } } },
        { name: "Y", valueFrom: { configMapKeyRef: { name: "b", key: "k" } } },
        { name: "Z", valueFrom: { secretKeyRef: { name: "t", key: "k" } } },
      ],
    });
    assert.deepEqual(referencedSources(c), { configMaps: ["a", "b"], secrets: ["s", "t"] });
  });
  it("command and args expand with the final env", () => {
    const { p, c } = withContainer({ env: [{ name: "PORT", value: "8080" }] });
    const env = okEnv(buildContainerEnv(p, c, []));
    assert.deepEqual(expandArgv(["--port=$(PORT)", "$$(PORT)", "$(NOPE)"], env), ["--port=8080", "$(PORT)", "$(NOPE)"]);
  });
  it("env var names: IsEnvVarName", () => {
    for (const ok of ["A", "a.b", "-x", "_1", "A-B.C_9"]) assert.equal(isEnvVarName(ok), true, ok);
    for (const bad of ["", "1A", "A B", "A=B", "é"]) assert.equal(isEnvVarName(bad), false, bad);
  });
});
