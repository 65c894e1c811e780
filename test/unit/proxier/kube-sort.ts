/**
 * kube-proxy's test canonicalisation (`sortIPTablesRules` in pkg/proxy/iptables/proxier_test.go): tables by
 * name; chains KUBE-NODEPORTS, KUBE-SERVICES, other KUBE-* alphabetically, then the rest; rules of KUBE-NODEPORTS
 * and KUBE-SERVICES stable-sorted by the service name in their comment (nat's "must be the last rule" kept last);
 * output = chain lines, then rules chain by chain, `-X` lines, COMMIT.
 */
export interface DumpTable {
  name: string;
  chains: string[];
  rules: Map<string, string[]>;
  deletes: string[];
}

export function parseRestore(data: string): DumpTable[] {
  const tables: DumpTable[] = [];
  let cur: DumpTable | null = null;
  for (const line of data.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      cur = { name: line.slice(1), chains: [], rules: new Map(), deletes: [] };
      tables.push(cur);
    } else if (line === "COMMIT") cur = null;
    else if (!cur) throw new Error(`line outside a table: ${line}`);
    else if (line.startsWith(":")) {
      const name = line.slice(1).split(" ")[0]!;
      if (!cur.chains.includes(name)) cur.chains.push(name);
      if (!cur.rules.has(name)) cur.rules.set(name, []);
    } else if (line.startsWith("-A ")) {
      const chain = line.split(" ")[1]!;
      if (!cur.rules.has(chain)) throw new Error(`rule for undeclared chain ${chain}`);
      cur.rules.get(chain)!.push(line);
    } else if (line.startsWith("-X ")) cur.deletes.push(line);
    else throw new Error(`unexpected line ${line}`);
  }
  return tables;
}

function commentOf(rule: string): string | null {
  const m = rule.match(/--comment (?:"([^"]*)"|(\S+))/);
  if (!m) return null;
  return m[1] ?? m[2] ?? null;
}

function serviceNameOf(rule: string): string | null {
  const c = commentOf(rule);
  if (c === null) return null;
  const i = c.search(/[ :]/);
  return i === -1 ? c : c.slice(0, i);
}

function stableSortRules(rules: string[], lastRule: boolean): string[] {
  const idx = rules.map((r, i) => ({ r, i }));
  idx.sort((a, b) => {
    if (lastRule) {
      const al = commentOf(a.r)?.includes("must be the last rule") ?? false;
      const bl = commentOf(b.r)?.includes("must be the last rule") ?? false;
      if (al !== bl) return al ? 1 : -1;
    }
    const na = serviceNameOf(a.r);
    const nb = serviceNameOf(b.r);
    if (na !== null && nb !== null && na !== nb) return na < nb ? -1 : 1;
    return a.i - b.i;
  });
  return idx.map((x) => x.r);
}

function chainOrder(a: string, b: string): number {
  const rank = (c: string) => (c === "KUBE-NODEPORTS" ? 0 : c === "KUBE-SERVICES" ? 1 : c.startsWith("KUBE-") ? 2 : 3);
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** kube-proxy's sortIPTablesRules. */
export function sortIPTablesRules(data: string): string {
  const tables = parseRestore(data).sort((a, b) => (a.name < b.name ? -1 : 1));
  let out = "";
  for (const t of tables) {
    const chains = [...t.chains].sort(chainOrder);
    out += `*${t.name}\n`;
    for (const c of chains) out += `:${c} - [0:0]\n`;
    for (const c of chains) {
      let rules = t.rules.get(c) ?? [];
      if (c === "KUBE-NODEPORTS") rules = stableSortRules(rules, false);
      if (c === "KUBE-SERVICES") rules = stableSortRules(rules, t.name === "nat");
      for (const r of rules) out += `${r}\n`;
    }
    for (const d of t.deletes) out += `${d}\n`;
    out += "COMMIT\n";
  }
  return out;
}

/** Dedent like Go's dedent.Dedent for expected-output literals (strips the common indent, leading newline). */
export function dedent(s: string): string {
  const lines = s.replace(/^\n/, "").split("\n");
  const indents = lines.filter((l) => l.trim()).map((l) => l.match(/^\s*/)![0].length);
  const n = Math.min(...indents);
  return lines
    .map((l) => l.slice(n))
    .join("\n")
    .replace(/[ \t]+$/, "");
}
