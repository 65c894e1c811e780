/**
 * flannel's `/run/flannel/subnet.env` (written by the overlay agent, read by the plugin):
 *   FLANNEL_NETWORK=10.244.0.0/16
 *   FLANNEL_SUBNET=10.244.1.1/24     first usable IP of the node's lease (the bridge gateway), not the network
 *   FLANNEL_MTU=1450
 *   FLANNEL_IPMASQ=true
 */
export const DEFAULT_SUBNET_FILE = "/run/flannel/subnet.env";

export interface SubnetEnv {
  networks: string[];
  subnet: string;
  mtu: number;
  ipMasq: boolean;
}

export class SubnetEnvError extends Error {
  override name = "SubnetEnvError";
}

export function parseSubnetEnv(text: string): SubnetEnv {
  const kv = new Map<string, string>();
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t || t.startsWith("#")) continue;
    const i = t.indexOf("=");
    if (i > 0) kv.set(t.slice(0, i).trim(), t.slice(i + 1).trim());
  }
  const need = (k: string): string => {
    const v = kv.get(k);
    if (v === undefined) throw new SubnetEnvError(`${k} is missing in subnet env`);
    return v;
  };
  const mtu = Number(need("FLANNEL_MTU"));
  if (!Number.isInteger(mtu) || mtu < 68) throw new SubnetEnvError(`bad FLANNEL_MTU: ${kv.get("FLANNEL_MTU")}`);
  return {
    networks: need("FLANNEL_NETWORK")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    subnet: need("FLANNEL_SUBNET"),
    mtu,
    ipMasq: need("FLANNEL_IPMASQ") === "true",
  };
}

export function formatSubnetEnv(e: SubnetEnv): string {
  return (
    `FLANNEL_NETWORK=${e.networks.join(",")}\n` +
    `FLANNEL_SUBNET=${e.subnet}\n` +
    `FLANNEL_MTU=${e.mtu}\n` +
    `FLANNEL_IPMASQ=${e.ipMasq ? "true" : "false"}\n`
  );
}
