/**
 * host-local's on-disk store (I/O side of IPAM), same layout as containernetworking/plugins `backend/disk`:
 *   <dataDir>/<network>/<ip>                 content `<containerID>\r\n<ifname>`, created with O_EXCL
 *   <dataDir>/<network>/last_reserved_ip.<N> the last IP handed out from range set N
 *   <dataDir>/<network>/lock                 the lock file (exists, empty)
 *
 * Locking: Node has no flock(2), so mutual exclusion between podwire processes uses an O_EXCL `lock.pid` file
 * next to `lock` holding the owner's pid; a lock whose owner is dead (a plugin killed mid-ADD) is taken over.
 * This does not exclude a concurrently running Go host-local binary on the same directory (which flocks `lock`);
 * podwire never runs both on one network.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";

export const DEFAULT_DATA_DIR = "/var/lib/cni/networks";
const LAST_RESERVED = "last_reserved_ip.";
/** How long an empty lock.pid may stand before it counts as left by a taker that died before writing its pid. */
const EMPTY_LOCK_GRACE_MS = 1000;

export class LockTimeoutError extends Error {
  override name = "LockTimeoutError";
}

export interface Reservation {
  ip: string;
  id: string;
  ifname: string;
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

const sleepBuf = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleepBuf, 0, 0, ms);
}

function isIpFileName(n: string): boolean {
  return /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(n) || (n.includes(":") && /^[0-9a-f:_]+$/i.test(n));
}

/** The store of one network. All methods are synchronous: a plugin run is short and single-purpose. */
export class DiskStore {
  readonly dir: string;
  private held = 0;

  constructor(network: string, dataDir = DEFAULT_DATA_DIR) {
    if (!network || network.includes("/") || network === "." || network === "..")
      throw new Error(`invalid network name: ${network}`);
    this.dir = join(dataDir, network);
  }

  /** Runs fn while holding the store lock (re-entrant within one process). */
  withLock<T>(fn: () => T, timeoutMs = 10_000): T {
    if (this.held > 0) {
      this.held++;
      try {
        return fn();
      } finally {
        this.held--;
      }
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    const lockFile = join(this.dir, "lock");
    if (!existsSync(lockFile)) writeFileSync(lockFile, "", { mode: 0o600, flag: "a" });
    const pidFile = join(this.dir, "lock.pid");
    const deadline = Date.now() + timeoutMs;
    let delay = 1;
    for (;;) {
      try {
        const fd = openSync(pidFile, "wx", 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      let text: string;
      let ageMs: number;
      try {
        text = readFileSync(pidFile, "utf8");
        ageMs = Date.now() - statSync(pidFile).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      const owner = Number(text);
      // A taker killed between creating the file and writing its pid leaves it empty (or cut short); a live taker
      // writes its pid microseconds after creating, so an empty file older than a second has no owner.
      const unowned = Number.isInteger(owner) && owner > 0 ? !pidAlive(owner) : ageMs > EMPTY_LOCK_GRACE_MS;
      if (unowned) {
        // Take over a dead owner's lock: rename first so two takers cannot both remove a fresh lock.
        const stale = `${pidFile}.stale.${process.pid}`;
        try {
          renameSync(pidFile, stale);
          if (readFileSync(stale, "utf8") === text) unlinkSync(stale);
          else renameSync(stale, pidFile); // it was someone's fresh lock; put it back
        } catch {}
        continue;
      }
      if (Date.now() > deadline) throw new LockTimeoutError(`timed out waiting for IPAM lock ${pidFile}`);
      sleepMs(delay);
      delay = Math.min(delay * 2, 20);
    }
    this.held = 1;
    try {
      return fn();
    } finally {
      this.held = 0;
      try {
        unlinkSync(pidFile);
      } catch {}
    }
  }

  /** Reserves ip for id/ifname; false if the IP is already taken. Records it as last reserved of the set. */
  reserve(ip: string, id: string, ifname: string, rangeSetIndex: number): boolean {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    try {
      const fd = openSync(join(this.dir, ip), "wx", 0o600);
      writeSync(fd, `${id.trim()}\r\n${ifname}`);
      closeSync(fd);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw e;
    }
    writeFileSync(join(this.dir, `${LAST_RESERVED}${rangeSetIndex}`), ip, { mode: 0o600 });
    return true;
  }

  lastReserved(rangeSetIndex: number): string | undefined {
    try {
      return readFileSync(join(this.dir, `${LAST_RESERVED}${rangeSetIndex}`), "utf8").trim();
    } catch {
      return undefined;
    }
  }

  /** Every reservation in the store. Old-format files (id only) get ifname "". */
  list(): Reservation[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: Reservation[] = [];
    for (const n of names) {
      if (!isIpFileName(n)) continue;
      try {
        const [id = "", ifname = ""] = readFileSync(join(this.dir, n), "utf8").split("\r\n");
        out.push({ ip: n, id: id.trim(), ifname: ifname.trim() });
      } catch {}
    }
    return out;
  }

  isReserved(ip: string): boolean {
    return existsSync(join(this.dir, ip));
  }

  /** Releases every IP held by id+ifname (or by id alone for old-format files). Returns the released IPs. */
  releaseByOwner(id: string, ifname: string): string[] {
    const released: string[] = [];
    for (const r of this.list()) {
      if (r.id !== id.trim()) continue;
      if (r.ifname !== "" && r.ifname !== ifname) continue;
      this.release(r.ip);
      released.push(r.ip);
    }
    return released;
  }

  release(ip: string): void {
    try {
      unlinkSync(join(this.dir, ip));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }
}
