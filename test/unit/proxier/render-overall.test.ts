import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { render } from "../../../proxier/iptables/render.js";
import { fakeProxierOptions } from "./fixtures.js";
import { overallExpected, overallInput } from "./kube-cases.js";
import { sortIPTablesRules } from "./support.js";

describe("render: kube-proxy TestOverallIPTablesRules parity", () => {
  it("produces kube-proxy's expected restore payload after its canonical sort", () => {
    const r = render(overallInput(), fakeProxierOptions());
    assert.equal(sortIPTablesRules(r.payload), overallExpected);
  });
  it("is deterministic: the same input renders the same bytes", () => {
    assert.equal(
      render(overallInput(), fakeProxierOptions()).payload,
      render(overallInput(), fakeProxierOptions()).payload,
    );
  });
  it("reports the nat chains each service owns", () => {
    const r = render(overallInput(), fakeProxierOptions());
    assert.deepEqual(r.serviceChains.get("ns1/svc1"), ["KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-SEP-SXIVWICOYRO3J4NJ"]);
    assert.equal(r.serviceChains.has("ns6/svc6"), false, "a service without endpoints owns no nat chains");
  });
});
