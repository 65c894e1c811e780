/**
 * The kubelet's serving certificate for its API on :10250 (logs/exec), made with the openssl CLI as the
 * apiserver's PKI is (src/apiserver/pki.ts):
 *   - signed by the cluster CA when its key is at hand (the sandbox has it: the same CA the apiserver's serving
 *     cert and the kubeconfigs use), subject `CN=system:node:<node>, O=system:nodes` as the kubelet-serving
 *     signer issues it, SANs = the node's addresses and hostname;
 *   - otherwise self-signed (`CN=<node>@<unix time>`), which is what the kubelet itself does without
 *     --tls-cert-file.
 * Kept in `dir` (kubelet.crt/kubelet.key + kubelet.sans) and re-issued when a SAN or the issuer changes.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { newKey, openssl, signCert } from "../pki/openssl.js";

export interface ServingCert {
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
}

export interface ServingCertOptions {
  dir: string;
  nodeName: string;
  ips: string[];
  dnsNames?: string[];
  /** The cluster CA (PEM files); without it the certificate is self-signed. */
  ca?: { certPath: string; keyPath: string };
}

/** The `subjectAltName` value for the node's addresses and names (sorted, deduplicated). */
export function servingSans(ips: readonly string[], dnsNames: readonly string[]): string {
  return [...new Set(ips.filter(Boolean).map((ip) => `IP:${ip}`))]
    .concat([...new Set(dnsNames.filter(Boolean).map((d) => `DNS:${d}`))])
    .sort()
    .join(",");
}

/** Returns the kubelet's serving certificate, issuing it first when it is missing or no longer fits. */
export function ensureKubeletServingCert(o: ServingCertOptions): ServingCert {
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const certPath = join(o.dir, "kubelet.crt");
  const keyPath = join(o.dir, "kubelet.key");
  const stampPath = join(o.dir, "kubelet.sans");
  const sans = servingSans(o.ips, [o.nodeName, ...(o.dnsNames ?? [])]);
  const issuer = o.ca ? readFileSync(o.ca.certPath, "utf8").trim() : "self-signed";
  const stamp = `${sans}\n${issuer}`;
  const current = existsSync(stampPath) ? readFileSync(stampPath, "utf8") : "";
  if (!existsSync(certPath) || !existsSync(keyPath) || current !== stamp) {
    newKey(keyPath, o.dir);
    if (o.ca) {
      signCert({
        dir: o.dir,
        keyPath,
        certPath,
        subject: `/O=system:nodes/CN=system:node:${o.nodeName}`,
        extensions: `subjectAltName=${sans}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`,
        days: 365,
        ca: o.ca,
      });
    } else {
      const subj = `/CN=${o.nodeName}@${Math.floor(Date.now() / 1000)}`;
      openssl(
        ["req", "-x509", "-new", "-key", keyPath, "-sha256", "-days", "365", "-subj", subj, "-out", certPath].concat([
          "-addext",
          `subjectAltName=${sans}`,
          "-addext",
          "extendedKeyUsage=serverAuth",
        ]),
        o.dir,
      );
    }
    writeFileSync(stampPath, stamp);
  }
  return { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8"), certPath, keyPath };
}
