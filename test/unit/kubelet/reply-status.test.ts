import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { asStatus, kubeletReplyStatus } from "../../../src/kubelet/reply-status.js";
import { runs } from "../../support/runs.js";

describe("kubelet error reply → Status (kube-apiserver's GenericHttpResponseChecker)", () => {
  it("the kubelet's plain-text 401 becomes Unauthorized with the fixed message and the subresource", () => {
    assert.deepEqual(kubeletReplyStatus(401, "Unauthorized", "pods/log", "web-1"), {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "the server has asked for the client to provide credentials ( pods/log web-1)",
      reason: "Unauthorized",
      code: 401,
      details: { name: "web-1", kind: "pods/log" },
    });
    assert.equal(
      kubeletReplyStatus(401, "Unauthorized", "pods/exec", "x").message,
      "the server has asked for the client to provide credentials ( pods/exec x)",
    );
  });

  it("400 and 500 keep the kubelet's text; 403 keeps it as the message; 404 and unknown codes get fixed wording", () => {
    const bad = kubeletReplyStatus(400, "previous terminated container not found", "pods/log", "p");
    assert.deepEqual(
      [bad.code, bad.reason, bad.message, bad.details],
      [400, "BadRequest", "previous terminated container not found", undefined],
    );
    const internal = kubeletReplyStatus(500, "boom", "pods/log", "p");
    assert.deepEqual(
      [internal.reason, internal.message, internal.details?.causes],
      ["InternalError", "Internal error occurred: boom", [{ message: "boom" }]],
    );
    const forbidden = kubeletReplyStatus(403, "Forbidden (user=x, verb=get)", "pods/log", "p");
    assert.deepEqual(
      [forbidden.reason, forbidden.message],
      ["Forbidden", "Forbidden (user=x, verb=get) ( pods/log p)"],
    );
    const nf = kubeletReplyStatus(404, "pod or container not found on this node", "pods/log", "p");
    assert.deepEqual(
      [nf.reason, nf.message],
      ["NotFound", "the server could not find the requested resource ( pods/log p)"],
    );
    const teapot = kubeletReplyStatus(418, "", "pods/log", "p");
    assert.deepEqual(
      [teapot.reason, teapot.message],
      ["Unknown", "the server responded with the status code 418 but did not return more information ( pods/log p)"],
    );
    const bgw = kubeletReplyStatus(503, "down", "pods/exec", "p");
    assert.deepEqual(
      [bgw.reason, bgw.message],
      ["InternalError", 'an error on the server ("down") has prevented the request from succeeding ( pods/exec p)'],
    );
  });

  it("a reply that already is a Status is passed on as it is (its code filled in when missing)", () => {
    const st = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "kubelet says no",
      reason: "Unauthorized",
      code: 401,
    };
    assert.deepEqual(kubeletReplyStatus(401, JSON.stringify(st), "pods/log", "p"), st);
    const { code: _c, metadata: _m, ...bare } = st;
    assert.deepEqual(asStatus(JSON.stringify(bare), 403), { ...bare, metadata: {}, code: 403 });
    for (const notStatus of ['{"kind":"Pod","apiVersion":"v1"}', '{"kind":"Status","status":"Success"}', "null", "[1]"])
      assert.equal(asStatus(notStatus, 401), undefined, notStatus);
  });

  it("every error code and body gives a Failure Status with that code and a non-empty reason and message", () => {
    fc.assert(
      fc.property(fc.integer({ min: 300, max: 599 }), fc.string(), fc.string({ minLength: 1 }), (code, body, name) => {
        const st = kubeletReplyStatus(code, body, "pods/log", name);
        assert.equal(st.kind, "Status");
        assert.equal(st.status, "Failure");
        if (asStatus(body, code) === undefined) assert.equal(st.code, code);
        assert.ok(st.reason);
        assert.equal(typeof st.message, "string");
      }),
      { numRuns: runs(2000, 300) },
    );
  });
});
