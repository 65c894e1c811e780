/**
 * What a kubelet's error reply becomes on the apiserver side of `pods/log` and `pods/exec`: a metav1.Status, so
 * that kubectl prints a reason (`error: You must be logged in to the server (…)`) rather than a bare word.
 *
 * The kubelet answers its own errors as plain text (its auth filter writes `401 Unauthorized` with the body
 * "Unauthorized", as go-restful's WriteErrorString). kube-apiserver turns such a reply into a Status with
 * GenericHttpResponseChecker (500 → InternalError with the body, 400 → BadRequest with the body, anything else →
 * NewGenericServerResponse: a reason and fixed message by code, "( pods/log <name>)" appended). This does the same;
 * a reply that already is a Status (a kubelet that speaks them) is passed on as it is.
 */
import type { Status } from "../api/meta.js";
import { failureStatus as failure } from "../apiserver/errors.js";

/** kube-apiserver reads at most this much of an error reply (maxReadLength in response_checker.go). */
export const MAX_ERROR_BODY = 50_000;

const BY_CODE: Record<number, [reason: string, message: string]> = {
  400: ["BadRequest", "the server rejected our request for an unknown reason"],
  401: ["Unauthorized", "the server has asked for the client to provide credentials"],
  404: ["NotFound", "the server could not find the requested resource"],
  405: ["MethodNotAllowed", "the server does not allow this method on the requested resource"],
  409: ["Conflict", "the server reported a conflict"],
  422: ["Invalid", "the server rejected our request due to an error in our request"],
  429: ["TooManyRequests", "the server has received too many requests and has asked us to try again later"],
  504: [
    "Timeout",
    "the server was unable to return a response in the time allotted, but may still be processing the request",
  ],
};

/** The body as a Status when it is one (kind Status, apiVersion v1, status Failure), else undefined. */
export function asStatus(body: string, code: number): Status | undefined {
  let o: unknown;
  try {
    o = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof o !== "object" || o === null) return undefined;
  const s = o as Partial<Status>;
  if (s.kind !== "Status" || s.apiVersion !== "v1" || s.status !== "Failure") return undefined;
  return { ...s, metadata: s.metadata ?? {}, code: typeof s.code === "number" && s.code > 0 ? s.code : code } as Status;
}

/**
 * The Status for a kubelet's non-2xx reply `code` with `body` to a request for `resource` ("pods/log",
 * "pods/exec") of pod `name`.
 */
export function kubeletReplyStatus(code: number, body: string, resource: string, name: string): Status {
  const passed = asStatus(body, code);
  if (passed) return passed;
  if (code === 500)
    return failure(500, "InternalError", `Internal error occurred: ${body}`, { causes: [{ message: body }] });
  if (code === 400) return failure(400, "BadRequest", body);
  let [reason, message] = BY_CODE[code] ?? [
    "Unknown",
    `the server responded with the status code ${code} but did not return more information`,
  ];
  if (code === 403) [reason, message] = ["Forbidden", body];
  else if (!BY_CODE[code] && code >= 500)
    [reason, message] = [
      "InternalError",
      `an error on the server (${JSON.stringify(body)}) has prevented the request from succeeding`,
    ];
  // NewGenericServerResponse with an empty verb: "<message> ( <resource> <name>)".
  return failure(code, reason, `${message} ( ${resource} ${name})`, { name, kind: resource });
}
