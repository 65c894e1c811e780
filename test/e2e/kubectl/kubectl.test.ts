/**
 * Unmodified kubectl (1.27, 1.31, 1.32, 1.33 — the binaries the /usr/bin/kubectl dispatcher runs) against
 * `podwire server`: each version in its own namespace with its own --cache-dir.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type ServerProcess, startServerProcess } from "./server-process.js";

const kubectlDir = "/usr/lib/google-cloud-sdk/bin";
const versions = ["1.27", "1.31", "1.32", "1.33"].filter((v) => existsSync(join(kubectlDir, `kubectl.${v}`)));
const controllersPresent = existsSync("dist/src/controllers/index.js");

let srv: ServerProcess;
const tmp = mkdtempSync(join(tmpdir(), "pw-kubectl-"));
before(async () => {
  srv = await startServerProcess();
});
after(async () => {
  await srv?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

function kubectl(version: string, args: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
  const bin = join(kubectlDir, `kubectl.${version}`);
  return new Promise((resolve) => {
    const child = execFile(
      bin,
      ["--kubeconfig", srv.kubeconfig, "--cache-dir", join(tmp, `cache-${version}`), ...args],
      { timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, out: stdout, err: stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function ok(version: string, args: string[]): Promise<string> {
  const r = await kubectl(version, args);
  assert.equal(r.code, 0, `kubectl ${args.join(" ")} failed: ${r.err}`);
  return r.out;
}

const svcYaml = (ns: string, port: number) => `apiVersion: v1
kind: Service
metadata:
  name: applied
  namespace: ${ns}
spec:
  selector: {app: web}
  ports:
  - port: ${port}
    targetPort: 8080
`;

for (const v of versions) {
  const ns = `e2e-${v.replace(".", "")}`;
  describe(`kubectl ${v}`, () => {
    it("create namespace, get nodes, get cs", async () => {
      await ok(v, ["create", "namespace", ns]);
      const node = join(tmp, `node-${v}.yaml`);
      writeFileSync(
        node,
        JSON.stringify({
          apiVersion: "v1",
          kind: "Node",
          metadata: { name: `node-${ns}`, labels: { "node-role.kubernetes.io/worker": "" } },
          status: { conditions: [{ type: "Ready", status: "True" }], nodeInfo: { kubeletVersion: "v1.32.0" } },
        }),
      );
      await ok(v, ["apply", "-f", node]);
      const nodes = await ok(v, ["get", "nodes"]);
      assert.match(nodes, /NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION/);
      assert.match(nodes, new RegExp(`node-${ns}\\s+(Ready|NotReady)\\s+worker`));
      const cs = await ok(v, ["get", "cs"]);
      assert.match(cs, /scheduler\s+Healthy/);
    });

    it("create deployment, expose, scale, set image, describe", async () => {
      await ok(v, ["-n", ns, "create", "deployment", "web", "--image=nginx:1"]);
      const deploy = await ok(v, ["-n", ns, "get", "deployment", "web"]);
      assert.match(deploy, /NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE/);
      await ok(v, ["-n", ns, "expose", "deployment", "web", "--port=80", "--target-port=8080"]);
      const svc = await ok(v, ["-n", ns, "get", "svc", "web"]);
      assert.match(svc, /web\s+ClusterIP\s+10\.\d+\.\d+\.\d+\s+<none>\s+80\/TCP/);
      await ok(v, ["-n", ns, "scale", "deployment", "web", "--replicas=3"]);
      assert.equal(await ok(v, ["-n", ns, "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "3");
      await ok(v, ["-n", ns, "set", "image", "deployment/web", "nginx=nginx:2"]);
      assert.equal(
        await ok(v, ["-n", ns, "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]),
        "nginx:2",
      );
      const desc = await ok(v, ["-n", ns, "describe", "deployment", "web"]);
      assert.match(desc, /Replicas:\s+3 desired/);
      assert.match(desc, /Image:\s+nginx:2/);
      if (controllersPresent) {
        const deadline = Date.now() + 60_000;
        let pods = "";
        while (Date.now() < deadline) {
          pods = await ok(v, ["-n", ns, "get", "pods", "-l", "app=web", "-o", "name"]);
          if (pods.trim().split("\n").filter(Boolean).length >= 3) break;
          await new Promise((r) => setTimeout(r, 500));
        }
        assert.ok(pods.trim().split("\n").filter(Boolean).length >= 3, `pods of the deployment: ${pods}`);
      }
    });

    it("typed create of configmap, secret and nodeport service (protobuf bodies from 1.32)", async () => {
      await ok(v, ["-n", ns, "create", "configmap", "cm", "--from-literal=k=v"]);
      await ok(v, ["-n", ns, "create", "secret", "generic", "sec", "--from-literal=p=q"]);
      await ok(v, ["-n", ns, "create", "service", "nodeport", "np", "--tcp=81:8080"]);
      assert.equal(await ok(v, ["-n", ns, "get", "cm", "cm", "-o", "jsonpath={.data.k}"]), "v");
      assert.equal(
        await ok(v, ["-n", ns, "get", "secret", "sec", "-o", "jsonpath={.data.p}"]),
        Buffer.from("q").toString("base64"),
      );
      // stringData is write-only: folded into data, never returned.
      const sd = await kubectl(
        v,
        ["-n", ns, "create", "-f", "-"],
        "apiVersion: v1\nkind: Secret\nmetadata: {name: sd}\nstringData: {user: admin}\n",
      );
      assert.equal(sd.code, 0, sd.err);
      const got = JSON.parse(await ok(v, ["-n", ns, "get", "secret", "sd", "-o", "json"]));
      assert.deepEqual(got.data, { user: Buffer.from("admin").toString("base64") });
      assert.equal(got.stringData, undefined);
      const np = await ok(v, [
        "-n",
        ns,
        "get",
        "svc",
        "np",
        "-o",
        "jsonpath={.spec.type} {.spec.ports[0].port} {.spec.ports[0].nodePort}",
      ]);
      assert.match(np, /^NodePort 81 3\d{4}$/);
    });

    it("apply -f twice with a changed port replaces the port", async () => {
      const f = join(tmp, `svc-${v}.yaml`);
      writeFileSync(f, svcYaml(ns, 80));
      assert.match(await ok(v, ["apply", "-f", f]), /created/);
      writeFileSync(f, svcYaml(ns, 81));
      assert.match(await ok(v, ["apply", "-f", f]), /configured/);
      assert.equal(await ok(v, ["-n", ns, "get", "svc", "applied", "-o", "jsonpath={.spec.ports[*].port}"]), "81");
      assert.match(await ok(v, ["apply", "-f", f]), /unchanged/);
    });

    it("apply --server-side: create, change, drop a key, conflict with another manager, --force-conflicts", async () => {
      const cm = (data: string, labels = "") => `apiVersion: v1
kind: ConfigMap
metadata:
  name: ssa
  namespace: ${ns}
${labels ? `  labels: {${labels}}\n` : ""}data: {${data}}
`;
      const f = join(tmp, `ssa-${v}.yaml`);
      writeFileSync(f, cm('a: "1", b: "2"', 'team: "x"'));
      assert.match(await ok(v, ["apply", "--server-side", "-f", f]), /serverside-applied/);
      writeFileSync(f, cm('a: "10"'));
      await ok(v, ["apply", "--server-side", "-f", f]);
      const got = JSON.parse(await ok(v, ["-n", ns, "get", "cm", "ssa", "-o", "json", "--show-managed-fields"])) as {
        data: Record<string, string>;
        metadata: { labels?: Record<string, string>; managedFields?: { manager: string; operation: string }[] };
      };
      assert.deepEqual(got.data, { a: "10" }, "b (no longer applied) is gone, a changed");
      assert.equal(got.metadata.labels?.team, undefined, "the dropped label is gone");
      assert.ok(got.metadata.managedFields?.some((m) => m.manager === "kubectl" && m.operation === "Apply"));
      writeFileSync(f, cm('a: "99"'));
      const clash = await kubectl(v, ["apply", "--server-side", "--field-manager", "other", "-f", f]);
      assert.notEqual(clash.code, 0);
      assert.match(clash.err, /conflict with "kubectl"/);
      await ok(v, ["apply", "--server-side", "--field-manager", "other", "--force-conflicts", "-f", f]);
      assert.equal(await ok(v, ["-n", ns, "get", "cm", "ssa", "-o", "jsonpath={.data.a}"]), "99");
      await ok(v, ["-n", ns, "delete", "cm", "ssa"]);
    });

    it("get -w sees changes; delete removes", async () => {
      const bin = join(kubectlDir, `kubectl.${v}`);
      const w: ChildProcess = spawn(
        bin,
        ["--kubeconfig", srv.kubeconfig, "--cache-dir", join(tmp, `cache-${v}`), "-n", ns, "get", "cm", "-w"],
        {
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let out = "";
      w.stdout?.on("data", (c: Buffer) => {
        out += c.toString();
      });
      try {
        const until = async (re: RegExp) => {
          const deadline = Date.now() + 20_000;
          while (!re.test(out)) {
            if (Date.now() > deadline) throw new Error(`get -w output: ${out}`);
            await new Promise((r) => setTimeout(r, 100));
          }
        };
        await until(/cm\s+1/);
        await ok(v, ["-n", ns, "create", "configmap", "watched", "--from-literal=a=b", "--from-literal=c=d"]);
        await until(/watched\s+2/);
      } finally {
        if (w.pid) process.kill(w.pid, "SIGTERM");
      }
      await ok(v, ["-n", ns, "delete", "deployment", "web"]);
      const gone = await kubectl(v, ["-n", ns, "get", "deployment", "web"]);
      assert.notEqual(gone.code, 0);
      assert.match(gone.err, /NotFound|not found/);
      await ok(v, ["-n", ns, "delete", "svc", "applied", "web", "np"]);
    });
  });
}
