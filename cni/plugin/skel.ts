/**
 * The plugin skeleton (like CNI's pkg/skel): validates the env, decodes stdin, negotiates the version, dispatches
 * to the command handlers and turns failures into the spec's error JSON. Pure with respect to process state: it
 * takes env + stdin and returns exit code + stdout, so the same code serves an exec'd plugin and the agent's
 * socket server.
 */
import { CniError, type CniResult, ErrCode, LATEST_VERSION, type PluginConf, SUPPORTED_VERSIONS } from "./types.js";

export interface CniArgs {
  command: string;
  containerId: string;
  netns: string;
  ifname: string;
  args: Record<string, string>;
  path: string[];
}

export interface Handlers {
  add(a: CniArgs, conf: PluginConf): Promise<CniResult>;
  del(a: CniArgs, conf: PluginConf): Promise<void>;
  check(a: CniArgs, conf: PluginConf): Promise<void>;
  gc(a: CniArgs, conf: PluginConf): Promise<void>;
  status(a: CniArgs, conf: PluginConf): Promise<void>;
}

export interface Reply {
  code: number;
  stdout: string;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function parseCniArgs(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!s) return out;
  for (const kv of s.split(";")) {
    if (!kv) continue;
    const i = kv.indexOf("=");
    if (i <= 0) throw new CniError(ErrCode.invalidEnv, `invalid CNI_ARGS pair "${kv}"`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

function versionAtLeast(v: string, min: string): boolean {
  const a = v.split(".").map(Number);
  const b = min.split(".").map(Number);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

/** Converts a result to the wire shape of the negotiated version (pre-1.0 results carry ips[].version). */
export function resultForVersion(r: CniResult, version: string): CniResult {
  const out: CniResult = { ...r, cniVersion: version };
  if (!versionAtLeast(version, "1.0.0") && out.ips)
    out.ips = out.ips.map((ip) => ({ ...ip, version: ip.address.includes(":") ? "6" : "4" }));
  else if (out.ips) out.ips = out.ips.map(({ version: _v, ...ip }) => ip);
  return out;
}

export async function runSkel(env: Record<string, string | undefined>, stdin: string, h: Handlers): Promise<Reply> {
  let version: string | undefined;
  // Peek at the version first so even env errors carry the protocol version in use.
  try {
    const v = (JSON.parse(stdin) as PluginConf)?.cniVersion;
    if (typeof v === "string" && (SUPPORTED_VERSIONS as readonly string[]).includes(v)) version = v;
  } catch {}
  try {
    const command = env.CNI_COMMAND ?? "";
    if (!command) throw new CniError(ErrCode.invalidEnv, "required env variables [CNI_COMMAND] missing");
    if (command === "VERSION") {
      let cv = LATEST_VERSION;
      try {
        const c = stdin.trim() ? (JSON.parse(stdin) as PluginConf) : {};
        if (typeof c.cniVersion === "string") cv = c.cniVersion;
      } catch {}
      return ok({ cniVersion: cv, supportedVersions: [...SUPPORTED_VERSIONS] });
    }
    const required: Record<string, string[]> = {
      ADD: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
      CHECK: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
      DEL: ["CNI_CONTAINERID", "CNI_IFNAME"],
      GC: [],
      STATUS: [],
    };
    const need = required[command];
    if (!need) throw new CniError(ErrCode.invalidEnv, `unknown CNI_COMMAND: ${command}`);
    const missing = need.filter((k) => !env[k]);
    if (missing.length) throw new CniError(ErrCode.invalidEnv, `required env variables [${missing.join(" ")}] missing`);
    const containerId = env.CNI_CONTAINERID ?? "";
    if (containerId && !ID_RE.test(containerId))
      throw new CniError(ErrCode.invalidEnv, `invalid characters in containerID: ${containerId}`);
    const ifname = env.CNI_IFNAME ?? "";
    if (ifname && (ifname.length > 15 || /[/\s:]/.test(ifname) || ifname === "." || ifname === ".."))
      throw new CniError(ErrCode.invalidEnv, `invalid interface name: ${ifname}`);
    let conf: PluginConf;
    try {
      const parsed: unknown = JSON.parse(stdin);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not a JSON object");
      conf = parsed as PluginConf;
    } catch (e) {
      throw new CniError(ErrCode.decode, `error unmarshall network config: ${(e as Error).message}`);
    }
    version = typeof conf.cniVersion === "string" ? conf.cniVersion : undefined;
    if (!version) throw new CniError(ErrCode.invalidConfig, "cniVersion is missing from the network config");
    if (!(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
      version = undefined;
      throw new CniError(
        ErrCode.incompatibleVersion,
        "incompatible CNI versions",
        `config is "${conf.cniVersion}", plugin supports [${SUPPORTED_VERSIONS.join(" ")}]`,
      );
    }
    if ((command === "GC" || command === "STATUS") && !versionAtLeast(version, "1.1.0"))
      throw new CniError(ErrCode.incompatibleVersion, `config version does not allow "${command}"`);
    if (command === "CHECK" && !versionAtLeast(version, "0.4.0"))
      throw new CniError(ErrCode.incompatibleVersion, `config version does not allow "CHECK"`);
    const a: CniArgs = {
      command,
      containerId,
      netns: env.CNI_NETNS ?? "",
      ifname,
      args: parseCniArgs(env.CNI_ARGS),
      path: (env.CNI_PATH ?? "").split(":").filter(Boolean),
    };
    switch (command) {
      case "ADD":
        return ok(resultForVersion(await h.add(a, conf), version));
      case "DEL":
        await h.del(a, conf);
        return { code: 0, stdout: "" };
      case "CHECK":
        await h.check(a, conf);
        return { code: 0, stdout: "" };
      case "GC":
        await h.gc(a, conf);
        return { code: 0, stdout: "" };
      default:
        await h.status(a, conf);
        return { code: 0, stdout: "" };
    }
  } catch (e) {
    const err = e instanceof CniError ? e : new CniError(ErrCode.internal, (e as Error)?.message ?? String(e));
    return { code: 1, stdout: `${JSON.stringify(err.toJSON(version))}\n` };
  }
}

function ok(v: unknown): Reply {
  return { code: 0, stdout: `${JSON.stringify(v)}\n` };
}
