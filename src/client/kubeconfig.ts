/**
 * Where the client connects and how it authenticates: a kubeconfig file (explicit path or `KUBECONFIG`, which may
 * list several files), the in-cluster service-account token + CA, or `~/.kube/config`.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { parse as parseYaml } from "yaml";

export interface ClientConfig {
  /** Base URL, e.g. `https://127.0.0.1:6443`. */
  server: string;
  ca?: Buffer | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  token?: string | undefined;
  /** Re-read on use (rotated service-account tokens). */
  tokenFile?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  insecureSkipTLSVerify?: boolean | undefined;
  tlsServerName?: string | undefined;
  /** Default namespace of the context (`default` when unset). */
  namespace: string;
}

export class KubeconfigError extends Error {
  override name = "KubeconfigError";
}

interface NamedCluster {
  name: string;
  cluster: Record<string, unknown>;
}
interface NamedUser {
  name: string;
  user: Record<string, unknown>;
}
interface NamedContext {
  name: string;
  context: { cluster?: string; user?: string; namespace?: string };
}
interface KubeconfigDoc {
  "current-context"?: string;
  clusters?: NamedCluster[];
  users?: NamedUser[];
  contexts?: NamedContext[];
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

function fileOrData(rec: Record<string, unknown>, field: string, baseDir: string): Buffer | undefined {
  const data = str(rec[`${field}-data`]);
  if (data) return Buffer.from(data, "base64");
  const file = str(rec[field]);
  if (file) return readFileSync(isAbsolute(file) ? file : join(baseDir, file));
  return undefined;
}

/** Parses one or more kubeconfig documents (first definition of a name wins, like kubectl's merge). */
export function parseKubeconfig(
  docs: { text: string; baseDir: string }[],
  opts: { context?: string | undefined } = {},
): ClientConfig {
  const clusters = new Map<string, { rec: Record<string, unknown>; baseDir: string }>();
  const users = new Map<string, { rec: Record<string, unknown>; baseDir: string }>();
  const contexts = new Map<string, NamedContext["context"]>();
  let current: string | undefined;
  for (const { text, baseDir } of docs) {
    const doc = (parseYaml(text) ?? {}) as KubeconfigDoc;
    current ??= str(doc["current-context"]);
    for (const c of doc.clusters ?? [])
      if (!clusters.has(c.name)) clusters.set(c.name, { rec: c.cluster ?? {}, baseDir });
    for (const u of doc.users ?? []) if (!users.has(u.name)) users.set(u.name, { rec: u.user ?? {}, baseDir });
    for (const c of doc.contexts ?? []) if (!contexts.has(c.name)) contexts.set(c.name, c.context ?? {});
  }
  const ctxName = opts.context ?? current ?? (contexts.size === 1 ? [...contexts.keys()][0] : undefined);
  if (!ctxName) throw new KubeconfigError("kubeconfig has no current-context");
  const ctx = contexts.get(ctxName);
  if (!ctx) throw new KubeconfigError(`kubeconfig has no context named ${ctxName}`);
  const cluster = ctx.cluster ? clusters.get(ctx.cluster) : undefined;
  if (!cluster) throw new KubeconfigError(`context ${ctxName} names no known cluster (${ctx.cluster ?? "none"})`);
  const server = str(cluster.rec.server);
  if (!server) throw new KubeconfigError(`cluster ${ctx.cluster} has no server`);
  const cfg: ClientConfig = {
    server: server.replace(/\/+$/, ""),
    ca: fileOrData(cluster.rec, "certificate-authority", cluster.baseDir),
    insecureSkipTLSVerify: cluster.rec["insecure-skip-tls-verify"] === true,
    tlsServerName: str(cluster.rec["tls-server-name"]),
    namespace: str(ctx.namespace) ?? "default",
  };
  const user = ctx.user ? users.get(ctx.user) : undefined;
  if (user) {
    cfg.cert = fileOrData(user.rec, "client-certificate", user.baseDir);
    cfg.key = fileOrData(user.rec, "client-key", user.baseDir);
    cfg.token = str(user.rec.token);
    const tf = str(user.rec.tokenFile);
    if (tf) cfg.tokenFile = isAbsolute(tf) ? tf : join(user.baseDir, tf);
    cfg.username = str(user.rec.username);
    cfg.password = str(user.rec.password);
  }
  return cfg;
}

/** Loads a kubeconfig file, or several separated by `:` as in `KUBECONFIG`. */
export function loadKubeconfig(pathList: string, opts: { context?: string | undefined } = {}): ClientConfig {
  const paths = pathList.split(":").filter(Boolean);
  const docs: { text: string; baseDir: string }[] = [];
  for (const p of paths) {
    try {
      docs.push({ text: readFileSync(p, "utf8"), baseDir: dirname(p) });
    } catch (e) {
      // KUBECONFIG may name files that do not exist; kubectl skips them, an explicit single path is an error.
      if (paths.length === 1) throw new KubeconfigError(`cannot read kubeconfig ${p}: ${(e as Error).message}`);
    }
  }
  if (docs.length === 0) throw new KubeconfigError(`no readable kubeconfig in ${pathList}`);
  return parseKubeconfig(docs, opts);
}

export const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

/** The in-cluster config (service-account token + CA), or undefined when not running in a pod. */
export function inClusterConfig(
  env: NodeJS.ProcessEnv = process.env,
  saDir = serviceAccountDir,
): ClientConfig | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  const tokenFile = join(saDir, "token");
  if (!host || !port || !existsSync(tokenFile)) return undefined;
  const caFile = join(saDir, "ca.crt");
  const nsFile = join(saDir, "namespace");
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    ca: existsSync(caFile) ? readFileSync(caFile) : undefined,
    tokenFile,
    namespace: existsSync(nsFile) ? readFileSync(nsFile, "utf8").trim() : "default",
  };
}

/**
 * Resolves the config the way client-go's deferred loader does: an explicit `--kubeconfig`, then `KUBECONFIG`,
 * then in-cluster, then `~/.kube/config`.
 */
export function resolveClientConfig(
  opts: { kubeconfig?: string | undefined; context?: string | undefined; env?: NodeJS.ProcessEnv } = {},
): ClientConfig {
  const env = opts.env ?? process.env;
  if (opts.kubeconfig) return loadKubeconfig(opts.kubeconfig, opts);
  if (env.KUBECONFIG) return loadKubeconfig(env.KUBECONFIG, opts);
  const inCluster = inClusterConfig(env);
  if (inCluster) return inCluster;
  const home = join(env.HOME ?? homedir(), ".kube", "config");
  if (existsSync(home)) return loadKubeconfig(home, opts);
  throw new KubeconfigError("no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run in a cluster");
}
