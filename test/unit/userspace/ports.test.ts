import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PortAllocator, parsePortRange } from "../../../proxier/userspace/ports.js";

describe("proxy port allocation", () => {
  it("parses A-B and A+N and rejects junk", () => {
    assert.deepEqual(parsePortRange("30000-30009"), { base: 30000, size: 10 });
    assert.deepEqual(parsePortRange("40000+4"), { base: 40000, size: 5 });
    for (const bad of ["", "a-b", "10-5", "0-10", "65530-65540", "1-2-3"])
      assert.throws(() => parsePortRange(bad), bad);
  });

  it("hands out port 0 (kernel's choice) without a range", () => {
    assert.equal(new PortAllocator(null).allocate(), 0);
  });

  it("hands out every port of a range once, then fails; released ports come back", () => {
    const a = new PortAllocator({ base: 5000, size: 4 }, () => 0.6);
    const got = [a.allocate(), a.allocate(), a.allocate(), a.allocate()];
    assert.deepEqual([...got].sort(), [5000, 5001, 5002, 5003]);
    assert.throws(() => a.allocate(), /no remaining ports/);
    a.release(5002);
    assert.equal(a.allocate(), 5002);
  });
});
