/** API errors as values: every client call returns a Result carrying either the object or the Kubernetes Status. */
import type { Status } from "../api/index.js";

/**
 * A failed API call. `status` is the server's metav1.Status when it sent one; transport failures (connection
 * refused, TLS, timeout) are synthesised with `code: 0` and `reason: "ConnectionError"` so callers can branch on them.
 */
export class ApiError extends Error {
  override name = "ApiError";
  readonly code: number;
  readonly reason: string;
  constructor(readonly status: Status) {
    super(status.message ?? status.reason ?? `HTTP ${status.code}`);
    this.code = status.code;
    this.reason = status.reason ?? "";
  }
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: ApiError };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T>(error: ApiError): Result<T> {
  return { ok: false, error };
}

/** Builds a Status the way the apiserver would (used by fakes and for transport failures). */
export function makeStatus(code: number, reason: string, message: string, details?: Status["details"]): Status {
  const s: Status = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code };
  if (details) s.details = details;
  return s;
}

export function connectionError(message: string): ApiError {
  return new ApiError(makeStatus(0, "ConnectionError", message));
}

/** Reads a response body as a Status; falls back to a synthetic one named after the HTTP code. */
export function statusFromBody(httpCode: number, body: string): Status {
  try {
    const parsed = JSON.parse(body) as Partial<Status>;
    if (parsed && parsed.kind === "Status") return { ...parsed, code: parsed.code || httpCode } as Status;
  } catch {
    // not JSON: fall through
  }
  return makeStatus(httpCode, reasonForCode(httpCode), body.trim().slice(0, 500) || `HTTP ${httpCode}`);
}

function reasonForCode(code: number): string {
  const reasons: Record<number, string> = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
  };
  return reasons[code] ?? "Unknown";
}

export const isNotFound = (e: ApiError): boolean => e.code === 404;
export const isAlreadyExists = (e: ApiError): boolean => e.code === 409 && e.reason === "AlreadyExists";
export const isConflict = (e: ApiError): boolean => e.code === 409 && e.reason !== "AlreadyExists";
export const isGone = (e: ApiError): boolean => e.code === 410;
export const isConnectionError = (e: ApiError): boolean => e.code === 0;
