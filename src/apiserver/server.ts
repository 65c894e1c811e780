/**
 * Starts the apiserver: storage, allocators, PKI, tokens, the HTTPS listener, the bootstrap objects
 * (namespaces, the `kubernetes` Service/Endpoints/EndpointSlice) and periodic compaction.
 */
import { mkdirSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { openStore } from "../storage/index.js";
import type { Store } from "../storage/types.js";
import { ServiceAllocator } from "./allocator.js";
import { adminUser, TokenFile } from "./auth.js";
import { ApiError } from "./errors.js";
import { ApiHandler, type PodLogProvider, type VersionInfo } from "./http.js";
import { writeKubeconfig } from "./kubeconfig.js";
import { configureKubeletClient, kubeletPodLogs, proxyExecUpgrade } from "../kubelet/apiproxy.js";
import { LoopbackTransport } from "./loopback.js";
import { NamespaceCache } from "./namespace-cache.js";
import { ensurePki } from "./pki.js";
import { Registry } from "./registry.js";
import { findResource, type ResourceInfo } from "./resources.js";

export interface ApiServerConfig {
  dataDir: string;
  /** HOST:PORT; port 0 picks a free one. */
  listen?: string;
  storage?: "sqlite" | "etcd";
  etcdEndpoints?: string[];
  /** Use an existing store (tests); dataDir still holds PKI and tokens. */
  store?: Store;
  serviceClusterIPRange?: string;
  serviceNodePortRange?: [number, number];
  /** Address the `kubernetes` Endpoints point at (default: the listen host, 127.0.0.1 for 0.0.0.0). */
  advertiseAddress?: string;
  /** Plain HTTP without authentication: only for tests that exercise the API alone. */
  insecureHttp?: boolean;
  version?: VersionInfo;
  /** Keep this many revisions when compacting (kine's default 1000). */
  compactRetain?: number;
  compactIntervalMs?: number;
  bookmarkIntervalMs?: number;
  podLogs?: PodLogProvider;
  extraSANs?: string[];
  /**
   * kube-apiserver's --kubelet-certificate-authority: PEM CA that must have signed the kubelets' serving certs
   * (for pods/log and pods/exec), or "cluster" for this server's own CA. Unset = kubelet certs not verified.
   * Process-wide (src/kubelet/apiproxy.ts configureKubeletClient).
   */
  kubeletCertificateAuthority?: string;
}

export interface ApiServer {
  url: string;
  host: string;
  port: number;
  kubeconfigPath: string;
  caCertPath?: string;
  store: Store;
  registry: Registry;
  allocator: ServiceAllocator;
  tokens?: TokenFile;
  /** Writes a kubeconfig for node `name` (token user system:node:<name>) and returns its path. */
  nodeKubeconfig(name: string, path?: string): string;
  /**
   * A client transport into this server's request handler without a socket (the admin user): what the
   * in-process controllers and scheduler use. Closed with the server.
   */
  loopbackTransport(userAgent?: string): LoopbackTransport;
  close(): Promise<void>;
}

/** The version reported by /version; `minor` chooses the kubectl the /usr/bin/kubectl dispatcher runs. */
export const defaultVersion: VersionInfo = { major: "1", minor: "32", gitVersion: "v1.32.0-podwire" };

function splitHostPort(s: string): { host: string; port: number } {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(s);
  if (!m) throw new Error(`invalid listen address ${s} (want HOST:PORT)`);
  return { host: m[1] as string, port: Number(m[2]) };
}

function res(plural: string, group = ""): ResourceInfo {
  return findResource(group, "v1", plural) as ResourceInfo;
}

async function ensure(
  registry: Registry,
  r: ResourceInfo,
  ns: string | undefined,
  obj: Record<string, unknown>,
  replace = false,
): Promise<void> {
  const name = (obj.metadata as { name: string }).name;
  try {
    const cur = await registry.get(r, ns, name);
    if (replace)
      await registry.update(r, ns, name, { ...obj, metadata: { ...cur.metadata, ...(obj.metadata as object) } });
  } catch (e) {
    if (!(e instanceof ApiError && e.code === 404)) throw e;
    await registry.create(r, ns, obj).catch((err) => {
      if (!(err instanceof ApiError && err.code === 409)) throw err;
    });
  }
}

async function bootstrap(
  registry: Registry,
  allocator: ServiceAllocator,
  address: string,
  port: number,
): Promise<void> {
  for (const ns of ["default", "kube-system", "kube-public", "kube-node-lease"])
    await ensure(registry, res("namespaces"), undefined, { metadata: { name: ns } });
  await ensure(registry, res("services"), "default", {
    metadata: { name: "kubernetes", namespace: "default", labels: { component: "apiserver", provider: "kubernetes" } },
    spec: {
      type: "ClusterIP",
      clusterIP: allocator.firstIP(),
      ports: [{ name: "https", port: 443, protocol: "TCP", targetPort: port }],
      sessionAffinity: "None",
    },
  });
  await ensure(
    registry,
    res("endpoints"),
    "default",
    {
      metadata: {
        name: "kubernetes",
        namespace: "default",
        labels: { "endpointslice.kubernetes.io/skip-mirror": "true" },
      },
      subsets: [{ addresses: [{ ip: address }], ports: [{ name: "https", port, protocol: "TCP" }] }],
    },
    true,
  );
  await ensure(
    registry,
    res("endpointslices", "discovery.k8s.io"),
    "default",
    {
      metadata: {
        name: "kubernetes",
        namespace: "default",
        labels: {
          "kubernetes.io/service-name": "kubernetes",
          "endpointslice.kubernetes.io/managed-by": "podwire-apiserver",
        },
      },
      addressType: address.includes(":") ? "IPv6" : "IPv4",
      endpoints: [{ addresses: [address], conditions: { ready: true } }],
      ports: [{ name: "https", port, protocol: "TCP" }],
    },
    true,
  );
}

export async function startApiServer(cfg: ApiServerConfig): Promise<ApiServer> {
  if (cfg.insecureHttp && cfg.kubeletCertificateAuthority === "cluster")
    throw new Error('kubelet certificate authority "cluster" needs the HTTPS server (its CA)');
  mkdirSync(cfg.dataDir, { recursive: true });
  const { host, port: wantPort } = splitHostPort(cfg.listen ?? "127.0.0.1:6443");
  const store =
    cfg.store ??
    openStore({ backend: cfg.storage ?? "sqlite", dataDir: cfg.dataDir, etcdEndpoints: cfg.etcdEndpoints });
  const allocator = new ServiceAllocator(store, {
    serviceCIDR: cfg.serviceClusterIPRange ?? "10.96.0.0/12",
    nodePortRange: cfg.serviceNodePortRange ?? [30000, 32767],
  });
  const namespaces = new NamespaceCache(store);
  await namespaces.start();
  const registry = new Registry(store, allocator, namespaces.lookup);
  const advertise = cfg.advertiseAddress ?? (host === "0.0.0.0" || host === "::" || host === "" ? "127.0.0.1" : host);
  let tokens: TokenFile | undefined;
  let server: Server;
  let ready = false;
  let caCertPath: string | undefined;
  let caCert = "";
  const handlerOpts = {
    registry,
    version: cfg.version ?? defaultVersion,
    serverAddress: `${advertise}:${wantPort}`,
    bookmarkIntervalMs: cfg.bookmarkIntervalMs,
    // pods/log goes to the pod's kubelet (src/kubelet/apiproxy.ts) unless the caller plugs in another provider.
    podLogs: cfg.podLogs ?? kubeletPodLogs,
    ready: () => ready,
  };
  let handler: ApiHandler;
  if (cfg.insecureHttp) {
    if (cfg.kubeletCertificateAuthority) configureKubeletClient({ ca: cfg.kubeletCertificateAuthority });
    handler = new ApiHandler(handlerOpts);
    server = createHttpServer(handler.handle);
  } else {
    const pki = ensurePki(cfg.dataDir, {
      ips: [
        "127.0.0.1",
        allocator.firstIP(),
        advertise,
        ...(host && host !== "0.0.0.0" && host !== "::" ? [host] : []),
        ...(cfg.extraSANs ?? []).filter((s) => /^[\d.:]+$/.test(s)),
      ],
      dns: [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        ...(cfg.extraSANs ?? []).filter((s) => !/^[\d.:]+$/.test(s)),
      ],
    });
    caCertPath = pki.caCertPath;
    caCert = pki.caCert;
    // Always present the kubelet-client certificate (as kube-apiserver with --kubelet-client-certificate/-key):
    // kubelets with the cluster CA as their client CA refuse pods/log and pods/exec without it.
    configureKubeletClient({ cert: pki.kubeletClientCert, key: pki.kubeletClientKey });
    if (cfg.kubeletCertificateAuthority)
      configureKubeletClient({
        ca: cfg.kubeletCertificateAuthority === "cluster" ? pki.caCert : cfg.kubeletCertificateAuthority,
      });
    tokens = new TokenFile(cfg.dataDir);
    handler = new ApiHandler({ ...handlerOpts, tokens });
    server = createHttpsServer({ cert: pki.cert, key: pki.key }, handler.handle);
    server.on("upgrade", (req, socket, head) => {
      void handler
        .upgrade(req, socket, head, (pod, container, query) =>
          proxyExecUpgrade(pod, container, query, req, socket, head),
        )
        .catch(() => socket.destroy());
    });
  }
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(wantPort, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  handlerOpts.serverAddress = `${advertise}:${port}`;
  await bootstrap(registry, allocator, advertise, port);
  ready = true;

  const scheme = cfg.insecureHttp ? "http" : "https";
  const urlHost = host.includes(":") ? `[${host}]` : host === "0.0.0.0" || host === "" ? "127.0.0.1" : host;
  const url = `${scheme}://${urlHost}:${port}`;
  const kubeconfigPath = join(cfg.dataDir, "admin.kubeconfig");
  const adminToken = tokens?.tokenFor(adminUser, ["system:masters"]);
  if (tokens && adminToken) writeKubeconfig(kubeconfigPath, url, caCert, adminUser, adminToken);
  const loopbacks = new Set<LoopbackTransport>();

  // Compaction like kube-apiserver drives it: keep the last `retain` revisions (watchers further behind get 410).
  const retain = cfg.compactRetain ?? 1000;
  const compactTimer = setInterval(
    () => {
      void store
        .currentRevision()
        .then((rev) => (rev - retain > 0 ? store.compact(rev - retain) : undefined))
        .catch(() => {});
    },
    cfg.compactIntervalMs ?? 5 * 60_000,
  );
  compactTimer.unref();

  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const secure = server as unknown as { on(ev: "secureConnection", cb: (s: import("node:net").Socket) => void): void };
  secure.on("secureConnection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  return {
    url,
    host: urlHost,
    port,
    kubeconfigPath,
    caCertPath,
    store,
    registry,
    allocator,
    tokens,
    nodeKubeconfig(name: string, path?: string): string {
      if (!tokens) throw new Error("node credentials need the HTTPS server");
      const out = path ?? join(cfg.dataDir, `node-${name}.kubeconfig`);
      writeKubeconfig(
        out,
        url,
        caCert,
        `system:node:${name}`,
        tokens.tokenFor(`system:node:${name}`, ["system:nodes"]),
      );
      return out;
    },
    loopbackTransport(userAgent?: string): LoopbackTransport {
      const t = new LoopbackTransport(handler.handle, adminToken, userAgent);
      loopbacks.add(t);
      return t;
    },
    async close(): Promise<void> {
      clearInterval(compactTimer);
      for (const t of loopbacks) t.close();
      namespaces.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        server.closeAllConnections?.();
      });
      if (!cfg.store) await store.close();
    },
  };
}
