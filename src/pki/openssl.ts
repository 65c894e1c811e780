/**
 * Certificates through the openssl CLI (no X.509 library needed): the apiserver's CA and serving cert
 * (src/apiserver/pki.ts) and the kubelets' serving certs (src/kubelet/pki.ts) are all made here.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** A new EC P-256 private key at keyPath. */
export function newKey(keyPath: string, cwd: string): void {
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", keyPath], cwd);
}

export interface SignedCertOptions {
  /** Working directory; the CSR and extension file live there only while signing. */
  dir: string;
  keyPath: string;
  certPath: string;
  /** `-subj` form, e.g. `/O=system:nodes/CN=system:node:n1`. */
  subject: string;
  /** The extensions file's text (subjectAltName, extendedKeyUsage, keyUsage lines). */
  extensions: string;
  days: number;
  ca: { certPath: string; keyPath: string };
}

/**
 * Signs a certificate for the key at keyPath with the CA. A random serial rather than -CAcreateserial: nothing is
 * written next to the CA.
 */
export function signCert(o: SignedCertOptions): void {
  const csr = join(o.dir, "signing.csr");
  const ext = join(o.dir, "signing.ext");
  writeFileSync(ext, o.extensions);
  try {
    openssl(["req", "-new", "-key", o.keyPath, "-subj", o.subject, "-out", csr], o.dir);
    openssl(
      [
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        o.ca.certPath,
        "-CAkey",
        o.ca.keyPath,
        "-set_serial",
        `0x${randomBytes(16).toString("hex")}`,
        "-days",
        String(o.days),
        "-sha256",
        "-extfile",
        ext,
        "-out",
        o.certPath,
      ],
      o.dir,
    );
  } finally {
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
  }
}
