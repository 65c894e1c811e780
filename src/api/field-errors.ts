/**
 * Field errors in Kubernetes' form (apimachinery's field.Error): a path, a type, the bad value, a detail.
 * `toString()` prints exactly what Kubernetes prints, e.g.
 * `spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive`.
 */
import type { Status } from "./meta.js";

export type FieldErrorType =
  | "FieldValueRequired"
  | "FieldValueInvalid"
  | "FieldValueNotSupported"
  | "FieldValueDuplicate"
  | "FieldValueForbidden"
  | "FieldValueTooLong"
  | "FieldValueTooMany";

const TYPE_TEXT: Record<FieldErrorType, string> = {
  FieldValueRequired: "Required value",
  FieldValueInvalid: "Invalid value",
  FieldValueNotSupported: "Unsupported value",
  FieldValueDuplicate: "Duplicate value",
  FieldValueForbidden: "Forbidden",
  FieldValueTooLong: "Too long",
  FieldValueTooMany: "Too many",
};

/** Formats a bad value the way Go's field.Error does: strings quoted, numbers and booleans bare. */
function formatValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (v === null || v === undefined) return "null";
  return JSON.stringify(v);
}

export class FieldError {
  constructor(
    readonly type: FieldErrorType,
    readonly field: string,
    readonly value: unknown,
    readonly detail: string,
  ) {}
  /** The part after `field: ` — what Kubernetes puts in a StatusCause's message. */
  body(): string {
    const t = TYPE_TEXT[this.type];
    switch (this.type) {
      case "FieldValueRequired":
      case "FieldValueForbidden":
      case "FieldValueTooLong":
      case "FieldValueTooMany":
        return this.detail ? `${t}: ${this.detail}` : t;
      default: {
        const v = `${t}: ${formatValue(this.value)}`;
        return this.detail ? `${v}: ${this.detail}` : v;
      }
    }
  }
  toString(): string {
    return `${this.field}: ${this.body()}`;
  }
}

/** A field path builder: `root("spec").child("ports").index(0).child("port").toString() === "spec.ports[0].port"`. */
export class Path {
  private constructor(private readonly text: string) {}
  static root(name: string): Path {
    return new Path(name);
  }
  child(name: string): Path {
    return new Path(this.text ? `${this.text}.${name}` : name);
  }
  index(i: number): Path {
    return new Path(`${this.text}[${i}]`);
  }
  key(k: string): Path {
    return new Path(`${this.text}[${k}]`);
  }
  toString(): string {
    return this.text;
  }
}

export const required = (p: Path, detail = "") => new FieldError("FieldValueRequired", String(p), "", detail);
export const invalid = (p: Path, value: unknown, detail: string) =>
  new FieldError("FieldValueInvalid", String(p), value, detail);
export const notSupported = (p: Path, value: unknown, supported: readonly string[]) =>
  new FieldError(
    "FieldValueNotSupported",
    String(p),
    value,
    `supported values: ${supported.map((s) => JSON.stringify(s)).join(", ")}`,
  );
export const duplicate = (p: Path, value: unknown) => new FieldError("FieldValueDuplicate", String(p), value, "");
export const forbidden = (p: Path, detail: string) => new FieldError("FieldValueForbidden", String(p), "", detail);
export const tooMany = (p: Path, actual: number, max: number) =>
  new FieldError("FieldValueTooMany", String(p), actual, `must have at most ${max} items`);

/**
 * The 422 body Kubernetes returns for invalid objects:
 * `Service "web" is invalid: spec.ports[0].port: Invalid value: …` with one cause per field error.
 */
export function invalidStatus(kind: string, name: string, errs: readonly FieldError[], group = ""): Status {
  const list = errs.map(String);
  const summary = list.length === 1 ? list[0] : `[${list.join(", ")}]`;
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: `${group ? `${kind}.${group}` : kind} "${name}" is invalid: ${summary}`,
    reason: "Invalid",
    details: {
      name,
      ...(group ? { group } : {}),
      kind,
      causes: errs.map((e) => ({ reason: e.type, message: e.body(), field: e.field })),
    },
    code: 422,
  };
}
