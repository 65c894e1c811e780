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
import { STATUS_CODES, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Duplex } from "node:stream";
import type { Status } from "../api/meta.js";
import { errors, failureStatus } from "../apiserver/errors.js";
import { kubeletReplyStatus, MAX_ERROR_BODY } from "./reply-status.js";

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

function sendStatus(res: ServerResponse, st: Status): void {
  res.writeHead(st.code, { "content-type": "application/json" });
  res.end(JSON.stringify(st));
}

function noHostStatus(pod: PodLike): Status {
  return errors.badRequest(`pod ${pod.metadata.name} does not have a host assigned`).status;
}

/**
 * Streams a container's log from its kubelet into `res` (follow=true keeps streaming until either side closes).
 * A kubelet error reply (401 when it does not accept the apiserver's client certificate, 404, …) is answered as a
 * Status instead of being streamed as if it were the log.
 */
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
      sendStatus(res, noHostStatus(pod));
      resolve();
      return;
    }
    const path = kubeletPath("containerLogs", pod, container, query);
    const onResponse = (kres: IncomingMessage) => {
      const code = kres.statusCode ?? 502;
      if (code < 200 || code > 206) {
        void readLimited(kres, MAX_ERROR_BODY).then((body) => {
          sendStatus(res, kubeletReplyStatus(code, body, "pods/log", pod.metadata.name ?? ""));
          resolve();
        });
        return;
      }
      res.writeHead(code, { "content-type": kres.headers["content-type"] ?? "text/plain" });
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
        sendStatus(res, kubeletErrorStatus(`${client.scheme}://${host}:${port}${path}`, host, port, e));
      }
      resolve();
    });
    req.end();
  });
}

/** Up to `limit` bytes of a response body as text (the rest is dropped); a broken body ends what was read. */
function readLimited(kres: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let n = 0;
    const done = () => resolve(Buffer.concat(parts).subarray(0, limit).toString("utf8").trim());
    kres.on("data", (d: Buffer) => {
      if (n < limit) parts.push(d);
      n += d.length;
    });
    kres.on("end", done);
    kres.on("error", done);
    kres.on("aborted", done);
  });
}

/**
 * The Status a failed kubelet request becomes, worded like kube-apiserver's (`Get "<url>": <cause>`): a TLS
 * verification failure says so instead of looking like an unreachable kubelet.
 */
export function kubeletErrorStatus(url: string, host: string, port: number, e: Error & { code?: string }): Status {
  const tls = /CERT|SELF_SIGNED|ALTNAME|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(e.code ?? "");
  const cause = tls ? `tls: failed to verify certificate: ${e.message}` : `dial tcp ${host}:${port}: ${e.message}`;
  return failureStatus(502, "InternalError", `Get "${url}": ${cause}`, { causes: [{ message: cause }] });
}

/** An HTTP response written onto a raw (upgrade) socket, which is then closed. */
function endWithStatus(socket: Duplex, st: Status): void {
  const body = JSON.stringify(st);
  socket.end(
    `HTTP/1.1 ${st.code} ${STATUS_CODES[st.code] ?? "Error"}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/**
 * Proxies a `pods/exec` websocket upgrade to the kubelet: when the kubelet answers the upgrade (101 with the
 * negotiated v5/v4.channel.k8s.io subprotocol) both sides then talk to each other directly, byte for byte. When it
 * refuses (401 to an apiserver it does not authenticate, 404, …) the caller gets a Status for the refusal, which
 * kubectl prints, rather than the kubelet's plain text (kube-apiserver echoes the kubelet's reply as it is).
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
    endWithStatus(socket, noHostStatus(pod));
    return;
  }
  const path = kubeletPath("exec", pod, container, query);
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    const key = k.toLowerCase();
    if (key === "host" || key === "authorization" || v === undefined) continue;
    headers[k] = v;
  }
  const opts = { host, port, path, method: "GET", headers, agent: false as const };
  const up = client.scheme === "https" ? httpsRequest({ ...opts, ...tlsOptions() }) : httpRequest(opts);
  let answered = false; // the caller has had its reply head (101 or a Status): later errors only close
  up.on("upgrade", (kres: IncomingMessage, kubelet: Duplex, khead: Buffer) => {
    answered = true;
    const lines = [`HTTP/1.1 ${kres.statusCode} ${kres.statusMessage ?? "Switching Protocols"}`];
    for (let i = 0; i + 1 < kres.rawHeaders.length; i += 2)
      lines.push(`${kres.rawHeaders[i]}: ${kres.rawHeaders[i + 1]}`);
    socket.write(`${lines.join("\r\n")}\r\n\r\n`);
    if (khead.length) socket.write(khead);
    if (head.length) kubelet.write(head);
    kubelet.pipe(socket);
    socket.pipe(kubelet);
    kubelet.on("error", () => socket.destroy());
    socket.on("close", () => kubelet.destroy());
  });
  up.on("response", (kres: IncomingMessage) => {
    answered = true;
    void readLimited(kres, MAX_ERROR_BODY).then((body) =>
      endWithStatus(socket, kubeletReplyStatus(kres.statusCode ?? 502, body, "pods/exec", pod.metadata.name ?? "")),
    );
  });
  up.on("error", (e) => {
    if (!answered && socket.writable)
      endWithStatus(socket, kubeletErrorStatus(`${client.scheme}://${host}:${port}${path}`, host, port, e));
    else socket.destroy();
  });
  socket.on("error", () => up.destroy());
  up.end();
}
