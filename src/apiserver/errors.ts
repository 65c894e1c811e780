/** API errors as Kubernetes answers them: a metav1.Status body with reason and code. */
import type { Status, StatusCause } from "../api/meta.js";

export class ApiError extends Error {
  override name = "ApiError";
  constructor(readonly status: Status) {
    super(status.message ?? status.reason ?? "error");
  }
  get code(): number {
    return this.status.code;
  }
}

/** A Failure Status body. */
export function failureStatus(code: number, reason: string, message: string, details?: Status["details"]): Status {
  const s: Status = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code };
  if (details) s.details = details;
  return s;
}

function status(code: number, reason: string, message: string, details?: Status["details"]): ApiError {
  return new ApiError(failureStatus(code, reason, message, details));
}

/** `resource` is the plural (`pods`), qualified with the group for named groups (`deployments.apps`). */
export const errors = {
  notFound: (resource: string, name: string, group = "") =>
    status(404, "NotFound", `${qualified(resource, group)} "${name}" not found`, {
      name,
      group: group || undefined,
      kind: resource,
    }),
  alreadyExists: (resource: string, name: string, group = "") =>
    status(409, "AlreadyExists", `${qualified(resource, group)} "${name}" already exists`, {
      name,
      group: group || undefined,
      kind: resource,
    }),
  conflict: (
    resource: string,
    name: string,
    group = "",
    why = "the object has been modified; please apply your changes to the latest version and try again",
  ) =>
    status(409, "Conflict", `Operation cannot be fulfilled on ${qualified(resource, group)} "${name}": ${why}`, {
      name,
      group: group || undefined,
      kind: resource,
    }),
  badRequest: (message: string) => status(400, "BadRequest", message),
  invalid: (kind: string, name: string, causes: StatusCause[], group = "") =>
    status(
      422,
      "Invalid",
      `${kind}${group ? `.${group}` : ""} "${name}" is invalid: ${causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join(", ")}`,
      { name, group: group || undefined, kind, causes },
    ),
  methodNotAllowed: (message = "the server does not allow this method on the requested resource") =>
    status(405, "MethodNotAllowed", message),
  unsupportedMediaType: (contentType: string) =>
    status(
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got ${contentType})`,
    ),
  notAcceptable: () => status(406, "NotAcceptable", "only the following media types are accepted: application/json"),
  expired: (message: string) => status(410, "Expired", message),
  unauthorized: () => status(401, "Unauthorized", "Unauthorized"),
  forbidden: (message: string, resource = "", name = "", group = "") =>
    status(403, "Forbidden", message, {
      name: name || undefined,
      group: group || undefined,
      kind: resource || undefined,
    }),
  notFoundPath: () => status(404, "NotFound", "the server could not find the requested resource"),
  internal: (message: string) => status(500, "InternalError", `Internal error occurred: ${message}`),
  timeout: (message: string) => status(504, "Timeout", message),
};

function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

export function successStatus(details?: Status["details"]): Status {
  const s: Status = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 200 };
  if (details) s.details = details;
  return s;
}
