/** Opens the configured storage backend. */
import { join } from "node:path";
import { EtcdStore } from "./etcd.js";
import { SqliteStore } from "./sqlite.js";
import type { Store } from "./types.js";

export * from "./types.js";
export { EtcdStore, SqliteStore };

export interface StoreConfig {
  backend: "sqlite" | "etcd";
  /** sqlite: the database lives at DIR/state.db. */
  dataDir?: string;
  etcdEndpoints?: string[];
}

export function openStore(cfg: StoreConfig): Store {
  if (cfg.backend === "etcd") {
    if (!cfg.etcdEndpoints?.length) throw new Error("--storage etcd needs --etcd-endpoints");
    return new EtcdStore(cfg.etcdEndpoints);
  }
  return new SqliteStore(cfg.dataDir ? join(cfg.dataDir, "state.db") : ":memory:");
}
