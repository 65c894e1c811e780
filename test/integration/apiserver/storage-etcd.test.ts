import { after, afterEach, before, describe } from "node:test";
import { EtcdStore } from "../../../src/storage/etcd.js";
import type { Store } from "../../../src/storage/types.js";
import { storageSuite } from "../../unit/apiserver/storage-suite.js";
import { type EtcdCluster, startEtcdCluster } from "./etcd-cluster.js";

let cluster: EtcdCluster;
before(async () => {
  cluster = await startEtcdCluster(3);
});
after(async () => {
  await cluster?.stop();
});
const open: Store[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

let tests = 0;
describe("etcd storage (3-member cluster, one member killed mid-run)", () => {
  storageSuite(
    async () => {
      // Halfway through the suite one member dies; the remaining quorum must serve the rest.
      if (++tests === 4) cluster.kill(1);
      const s = new EtcdStore(cluster.endpoints);
      open.push(s);
      return s;
    },
    () => `/registry/test-${tests}-${Date.now()}/`,
  );
});
