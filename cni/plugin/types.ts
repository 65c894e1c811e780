/** CNI JSON shapes (SPEC §1, §4, §5) as podwire-cni reads and writes them. */
import type { HostLocalConfig } from "../ipam/hostlocal.js";

export const SUPPORTED_VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;
export const LATEST_VERSION = "1.1.0";

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
}
export interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
  version?: string; // only in results < 1.0.0
}
export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}
export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIp[];
  routes?: CniRoute[];
  dns?: CniDns;
}

/** The request config the plugin gets on stdin (one plugin entry of a conflist, plus runtime-added keys). */
export interface PluginConf {
  cniVersion?: string;
  name?: string;
  type?: string;
  bridge?: string;
  mtu?: number;
  hairpinMode?: boolean;
  isGateway?: boolean;
  isDefaultGateway?: boolean;
  forceAddress?: boolean;
  ipMasq?: boolean;
  /** flannel-style: take subnet/MTU/cluster network from this file when ipam has no ranges. */
  subnetFile?: string;
  ipam?: HostLocalConfig & Record<string, unknown>;
  dns?: CniDns;
  prevResult?: CniResult;
  runtimeConfig?: Record<string, unknown>;
  args?: { cni?: { ips?: string[] } };
  "cni.dev/valid-attachments"?: { containerID: string; ifname: string }[];
  "cni.dev/attachments"?: { containerID: string; ifname: string }[];
  [k: string]: unknown;
}

/** SPEC §5 error codes used here. */
export const ErrCode = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnv: 4,
  io: 5,
  decode: 6,
  invalidConfig: 7,
  invalidNetns: 8,
  tryAgainLater: 11,
  notReady: 50,
  notReadyDegraded: 51,
  internal: 999,
} as const;

/** A failure that maps onto the spec's error object. */
export class CniError extends Error {
  override name = "CniError";
  constructor(
    readonly code: number,
    msg: string,
    readonly details?: string,
  ) {
    super(msg);
  }
  toJSON(cniVersion?: string): Record<string, unknown> {
    return {
      ...(cniVersion ? { cniVersion } : {}),
      code: this.code,
      msg: this.message,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}
