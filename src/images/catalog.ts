/**
 * Which program a container runs, without a container engine. Built-in images (recognised by name, any registry
 * and tag) run as `node dist/src/images/<name>.js …`; agnhost runs its subcommand (`netexec`, `serve-hostname`,
 * `pause`) the same way; any other image needs `command`, run as a host binary.
 */
import { fileURLToPath } from "node:url";
import type { Container } from "../api/core.js";

export const BUILTIN_IMAGES = ["netexec", "serve-hostname", "pause"] as const;
export type BuiltinImage = (typeof BUILTIN_IMAGES)[number];

export type ResolvedImage =
  | { ok: true; builtin: BuiltinImage | null; file: string; args: string[] }
  | { ok: false; reason: "ErrImagePull"; message: string };

/** `registry.k8s.io/e2e-test-images/agnhost:2.47` → `agnhost`; `pause@sha256:…` → `pause`. */
export function imageBaseName(image: string): string {
  const noDigest = image.split("@")[0] ?? "";
  const last = noDigest.split("/").pop() ?? "";
  return (last.split(":")[0] ?? "").toLowerCase();
}

function builtinFromName(name: string): BuiltinImage | null {
  if (name === "netexec") return "netexec";
  if (name === "serve-hostname" || name === "serve_hostname" || name === "serve-hostname-amd64")
    return "serve-hostname";
  if (name === "pause" || name === "pause-amd64") return "pause";
  return null;
}

/** Absolute path of a built-in image's entry module (next to this file in dist/). */
export function builtinEntry(image: BuiltinImage): string {
  return fileURLToPath(new URL(`./${image}.js`, import.meta.url));
}

function builtin(image: BuiltinImage, args: string[]): ResolvedImage {
  return { ok: true, builtin: image, file: process.execPath, args: [builtinEntry(image), ...args] };
}

/** Decides what to execute for a container (pure apart from locating dist/). */
export function resolveImage(c: Pick<Container, "image" | "command" | "args">): ResolvedImage {
  const image = c.image ?? "";
  const name = imageBaseName(image);
  const command = c.command ?? [];
  const args = c.args ?? [];
  // agnhost: entrypoint `/agnhost`, the first word of the remaining argv is the subcommand.
  let agnhostArgv: string[] | null = null;
  if (name === "agnhost") {
    if (command.length > 0 && /(^|\/)agnhost$/.test(command[0] ?? "")) agnhostArgv = [...command.slice(1), ...args];
    else if (command.length === 0) agnhostArgv = args;
    // `kubectl run --image=…agnhost -- /agnhost netexec` repeats the entrypoint in args: accept it.
    if (agnhostArgv && /(^|\/)agnhost$/.test(agnhostArgv[0] ?? "")) agnhostArgv = agnhostArgv.slice(1);
  }
  if (agnhostArgv) {
    const sub = builtinFromName(agnhostArgv[0] ?? "");
    if (sub) return builtin(sub, agnhostArgv.slice(1));
    return {
      ok: false,
      reason: "ErrImagePull",
      message: `image ${image}: agnhost subcommand ${JSON.stringify(agnhostArgv[0] ?? "")} is not built in (podwire has no container engine; built in: ${BUILTIN_IMAGES.join(", ")})`,
    };
  }
  const b = builtinFromName(name);
  if (b && command.length === 0) return builtin(b, args);
  if (command.length > 0)
    return { ok: true, builtin: null, file: command[0] ?? "", args: [...command.slice(1), ...args] };
  return {
    ok: false,
    reason: "ErrImagePull",
    message: `image ${JSON.stringify(image)} is not a built-in image (${BUILTIN_IMAGES.join(", ")}) and the container has no command; podwire has no container engine, so it runs a command as a host binary`,
  };
}
