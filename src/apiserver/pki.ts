/**
 * Certificates: a self-signed CA and a serving certificate for the apiserver, made with the openssl CLI and
 * kept in DIR/pki so a restart (and every kubeconfig already handed out) keeps working. The serving
 * certificate is re-issued when a needed SAN is missing (another listen address).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { newKey, openssl, signCert } from "../pki/openssl.js";

export interface Pki {
  caCert: string;
  cert: string;
  key: string;
  caCertPath: string;
  /**
   * The client certificate the apiserver presents to kubelets (kubeadm's apiserver-kubelet-client: clientAuth,
   * signed by the cluster CA), so kubelets started with the cluster CA as --client-ca-file authenticate it.
   */
  kubeletClientCert: string;
  kubeletClientKey: string;
}

export function ensurePki(dataDir: string, sans: { ips: string[]; dns: string[] }): Pki {
  const dir = join(dataDir, "pki");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caKey = join(dir, "ca.key");
  const caCrt = join(dir, "ca.crt");
  if (!existsSync(caCrt) || !existsSync(caKey)) {
    newKey(caKey, dir);
    openssl(
      ["req", "-x509", "-new", "-key", caKey, "-sha256", "-days", "3650", "-subj", "/CN=podwire-ca", "-out", caCrt],
      dir,
    );
  }
  const key = join(dir, "apiserver.key");
  const crt = join(dir, "apiserver.crt");
  const sanList = [...new Set(sans.ips)].map((ip) => `IP:${ip}`).concat([...new Set(sans.dns)].map((d) => `DNS:${d}`));
  const sanFile = join(dir, "apiserver.sans");
  const want = sanList.sort().join(",");
  const have = existsSync(sanFile) ? readFileSync(sanFile, "utf8") : "";
  const covered = have !== "" && want.split(",").every((x) => have.split(",").includes(x));
  if (!existsSync(crt) || !existsSync(key) || !covered) {
    const all = [...new Set([...want.split(","), ...(have ? have.split(",") : [])])].sort().join(",");
    newKey(key, dir);
    signCert({
      dir,
      keyPath: key,
      certPath: crt,
      subject: "/CN=kube-apiserver",
      extensions: `subjectAltName=${all}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n`,
      days: 3650,
      ca: { certPath: caCrt, keyPath: caKey },
    });
    writeFileSync(sanFile, all);
  }
  const kcKey = join(dir, "apiserver-kubelet-client.key");
  const kcCrt = join(dir, "apiserver-kubelet-client.crt");
  if (!existsSync(kcCrt) || !existsSync(kcKey)) {
    newKey(kcKey, dir);
    signCert({
      dir,
      keyPath: kcKey,
      certPath: kcCrt,
      subject: "/O=system:masters/CN=kube-apiserver-kubelet-client",
      extensions: "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
      days: 3650,
      ca: { certPath: caCrt, keyPath: caKey },
    });
  }
  return {
    caCert: readFileSync(caCrt, "utf8"),
    cert: readFileSync(crt, "utf8"),
    key: readFileSync(key, "utf8"),
    caCertPath: caCrt,
    kubeletClientCert: readFileSync(kcCrt, "utf8"),
    kubeletClientKey: readFileSync(kcKey, "utf8"),
  };
}
