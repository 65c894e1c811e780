/** Writes kubeconfig files (token user, CA embedded) for the admin and for nodes. */
import { writeFileSync } from "node:fs";
import { stringify } from "yaml";

export function kubeconfigYaml(server: string, caCert: string, user: string, token: string): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name: "podwire", cluster: { server, "certificate-authority-data": Buffer.from(caCert).toString("base64") } },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: "podwire", context: { cluster: "podwire", user } }],
    "current-context": "podwire",
    preferences: {},
  });
}

export function writeKubeconfig(path: string, server: string, caCert: string, user: string, token: string): void {
  writeFileSync(path, kubeconfigYaml(server, caCert, user, token), { mode: 0o600 });
}
