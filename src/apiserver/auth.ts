/**
 * Authentication (bearer tokens from DIR/tokens.csv, the kube-apiserver --token-auth-file format
 * `token,user,uid,"group1,group2"`) and authorization: admins may do anything; a node
 * (`system:node:<name>`, group `system:nodes`) may read, write its own Node, and write status of / delete
 * the pods bound to it (the Node authorizer + NodeRestriction, reduced).
 */
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface User {
  name: string;
  uid: string;
  groups: string[];
}

export class TokenFile {
  private tokens = new Map<string, User>();
  private mtime = -1;
  readonly path: string;

  constructor(dataDir: string) {
    this.path = join(dataDir, "tokens.csv");
    if (!existsSync(this.path)) writeFileSync(this.path, "", { mode: 0o600 });
    this.reload();
  }

  private reload(): void {
    const st = statSync(this.path, { throwIfNoEntry: false });
    if (!st || st.mtimeMs === this.mtime) return;
    this.mtime = st.mtimeMs;
    const map = new Map<string, User>();
    for (const line of readFileSync(this.path, "utf8").split("\n")) {
      const m = /^([^,]+),([^,]+),([^,]*)(?:,"?([^"]*)"?)?$/.exec(line.trim());
      if (!m) continue;
      map.set(m[1] as string, {
        name: m[2] as string,
        uid: m[3] as string,
        groups: (m[4] ?? "").split(",").filter(Boolean),
      });
    }
    this.tokens = map;
  }

  /** The user of a bearer token (re-reading the file when it changed), or undefined. */
  authenticate(token: string): User | undefined {
    let u = this.tokens.get(token);
    if (!u) {
      this.reload();
      u = this.tokens.get(token);
    }
    return u;
  }

  /** The token of `user`, minting and appending one if it has none. */
  tokenFor(user: string, groups: string[]): string {
    this.reload();
    for (const [t, u] of this.tokens) if (u.name === user) return t;
    const token = randomBytes(24).toString("hex");
    appendFileSync(this.path, `${token},${user},${user},"${groups.join(",")}"\n`);
    this.tokens.set(token, { name: user, uid: user, groups });
    return token;
  }
}

export const adminUser = "podwire-admin";
export const nodeUserPrefix = "system:node:";

export function nodeNameOf(user: User): string | undefined {
  return user.groups.includes("system:nodes") && user.name.startsWith(nodeUserPrefix)
    ? user.name.slice(nodeUserPrefix.length)
    : undefined;
}

export interface RequestAttributes {
  verb: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  group: string;
}

/** Outcome of authorization; `check` means "allowed if the pod is bound to this node" (decided after a read). */
export type Decision =
  | { allowed: true }
  | { allowed: false; reason: string }
  | { allowed: "ifPodOnNode"; node: string };

const readVerbs = new Set(["get", "list", "watch"]);

export function authorize(user: User, a: RequestAttributes): Decision {
  if (user.groups.includes("system:masters")) return { allowed: true };
  const node = nodeNameOf(user);
  if (node === undefined) return { allowed: false, reason: "no RBAC policy matched" };
  if (readVerbs.has(a.verb) && a.subresource !== "log") return { allowed: true };
  if (a.resource === "nodes") {
    if (a.name === node || (a.verb === "create" && a.name === undefined)) return { allowed: true };
    return { allowed: false, reason: `node '${node}' cannot modify node '${a.name ?? ""}'` };
  }
  if (a.resource === "pods") {
    if (a.subresource === "status" && (a.verb === "update" || a.verb === "patch"))
      return { allowed: "ifPodOnNode", node };
    if (a.subresource === undefined && a.verb === "delete") return { allowed: "ifPodOnNode", node };
    return { allowed: false, reason: `node '${node}' can only update the status of and delete pods bound to it` };
  }
  if (a.resource === "events" && (a.verb === "create" || a.verb === "patch" || a.verb === "update"))
    return { allowed: true };
  return { allowed: false, reason: "no RBAC policy matched" };
}

/** kube-apiserver's forbidden message. */
export function forbiddenMessage(user: User, a: RequestAttributes, reason: string): string {
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : "at the cluster scope";
  const subject = a.name ? `${a.resource} "${a.name}"` : a.resource;
  return `${subject} is forbidden: User "${user.name}" cannot ${a.verb} resource "${res}" in API group "${a.group}" ${scope}: ${reason}`;
}
