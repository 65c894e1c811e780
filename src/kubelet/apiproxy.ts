/**
 * What the apiserver uses to reach kubelets (`pods/log`, `pods/exec`): the kubelet listens on the pod's hostIP
 * (the node's InternalIP), port 10250 by default (Node.status.daemonEndpoints.kubeletEndpoint.Port), HTTPS.
 * Like kube-apiserver without --kubelet-certificate-authority, the kubelet's certificate is not verified unless
 * a CA is configured (`configureKubeletClient({ ca })`, e.g. the cluster CA when the kubelets' serving certs come
 * from it).
 *   podLogs: kubeletPodLogs                                   (matches src/apiserver/http.ts PodLogProvider)
 *   server.on("upgrade") for …/pods/{name}/exec → proxyExecUpgrade(pod, container, query, req, socket, head)
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Duplex } from "node:stream";

interface PodLike {
  metadata: { namespace?: string; name?: string };
  status?: { hostIP?: string };
}

export const KUBELET_PORT = 10250;

export interface KubeletClientConfig {
  /** "https" (default, as kubelets serve) or "http" (kubelets started with servingTls "none"). */
  scheme: "https" | "http";
  /** PEM CA that must have signed the kubelets' serving certificates; unset = not verified (apiserver default). */
  ca?: string;
  /**
   * PEM client certificate and key presented to kubelets (kube-apiserver's --kubelet-client-certificate and
   * --kubelet-client-key): kubelets with a client CA authenticate the apiserver by it.
   */
  cert?: string;
  key?: string;
}

let client: KubeletClientConfig = { scheme: "https" };

/** Sets how the apiserver side talks to kubelets (process-wide, like kube-apiserver's --kubelet-* flags). */
export function configureKubeletClient(c: Partial<KubeletClientConfig>): void {
  client = { ...client, ...c };
}

function tlsOptions() {
  const id = client.cert && client.key ? { cert: client.cert, key: client.key } : {};
  return client.ca ? { ...id, ca: client.ca, rejectUnauthorized: true } : { ...id, rejectUnauthorized: false };
}

function kubeletPath(kind: "containerLogs" | "exec", pod: PodLike, container: string, query: URLSearchParams): string {
  const ns = encodeURIComponent(pod.metadata.namespace ?? "default");
  const name = encodeURIComponent(pod.metadata.name ?? "");
  const q = query.toString();
  return `/${kind}/${ns}/${name}/${encodeURIComponent(container)}${q ? `?${q}` : ""}`;
}

/** Streams a container's log from its kubelet into `res` (follow=true keeps streaming until either side closes). */
export function kubeletPodLogs(
  pod: PodLike,
  container: string,
  query: URLSearchParams,
  res: ServerResponse,
  port = KUBELET_PORT,
): Promise<void> {
  const host = pod.status?.hostIP;
  return new Promise((resolve) => {
    if (!host) {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end(`pod ${pod.metadata.name} has no hostIP yet`);
      resolve();
      return;
    }
    const path = kubeletPath("containerLogs", pod, container, query);
    const onResponse = (kres: IncomingMessage) => {
      res.writeHead(kres.statusCode ?? 502, { "content-type": kres.headers["content-type"] ?? "text/plain" });
      res.flushHeaders();
      kres.pipe(res);
      kres.on("end", () => resolve());
      res.on("close", () => {
        kres.destroy();
        resolve();
      });
    };
    const req =
      client.scheme === "https"
        ? httpsRequest({ host, port, path, ...tlsOptions() }, onResponse)
        : httpRequest({ host, port, path }, onResponse);
    req.on("error", (e) => {
      if (res.headersSent) {
        res.end();
      } else {
        res.writeHead(502, { "content-type": "application/json" });
        res.end(JSON.stringify(kubeletErrorStatus(`${client.scheme}://${host}:${port}${path}`, host, port, e)));
      }
      resolve();
    });
    req.end();
  });
}

/**
 * The Status a failed kubelet request becomes, worded like kube-apiserver's (`Get "<url>": <cause>`): a TLS
 * verification failure says so instead of looking like an unreachable kubelet.
 */
export function kubeletErrorStatus(url: string, host: string, port: number, e: Error & { code?: string }) {
  const tls = /CERT|SELF_SIGNED|ALTNAME|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(e.code ?? "");
  const cause = tls ? `tls: failed to verify certificate: ${e.message}` : `dial tcp ${host}:${port}: ${e.message}`;
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: `Get "${url}": ${cause}`,
    reason: "InternalError",
    details: { causes: [{ message: cause }] },
    code: 502,
  };
}

/**
 * Proxies a `pods/exec` websocket upgrade to the kubelet byte for byte: the kubelet answers the upgrade (101 with
 * the negotiated v5/v4.channel.k8s.io subprotocol) and both sides then talk to each other directly.
 */
export function proxyExecUpgrade(
  pod: PodLike,
  container: string,
  query: URLSearchParams,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  port = KUBELET_PORT,
): void {
  const host = pod.status?.hostIP;
  if (!host) {
    socket.end("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
    return;
  }
  const onConnect = () => {
    const lines = [`GET ${kubeletPath("exec", pod, container, query)} HTTP/1.1`, `host: ${host}:${port}`];
    for (const [k, v] of Object.entries(req.headers)) {
      const key = k.toLowerCase();
      if (key === "host" || key === "authorization") continue;
      for (const one of Array.isArray(v) ? v : [v ?? ""]) lines.push(`${k}: ${one}`);
    }
    up.write(`${lines.join("\r\n")}\r\n\r\n`);
    if (head.length) up.write(head);
    up.pipe(socket);
    socket.pipe(up);
  };
  const up: Socket =
    client.scheme === "https"
      ? tlsConnect({ host, port, ...tlsOptions() }, onConnect)
      : netConnect({ host, port }, onConnect);
  up.on("error", () => socket.destroy());
  socket.on("error", () => up.destroy());
}
