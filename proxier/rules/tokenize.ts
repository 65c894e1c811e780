/**
 * Splits one iptables rule line into words the way iptables-restore does: whitespace separates words, double
 * quotes group (`"a b"`), a backslash escapes the next character. Each word remembers whether it was quoted, so a
 * quoted value such as `"-> x"` is never mistaken for an option.
 */
export interface Word {
  text: string;
  quoted: boolean;
}

export class TokenizeError extends Error {
  override name = "TokenizeError";
}

export function tokenize(line: string): Word[] {
  const words: Word[] = [];
  let cur = "";
  let inWord = false;
  let quoted = false;
  let inQuote = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "\\" && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
      continue;
    }
    if (c === '"') {
      inQuote = !inQuote;
      quoted = true;
      inWord = true;
      continue;
    }
    if (!inQuote && (c === " " || c === "\t")) {
      if (inWord) words.push({ text: cur, quoted });
      cur = "";
      inWord = false;
      quoted = false;
      continue;
    }
    cur += c;
    inWord = true;
  }
  if (inQuote) throw new TokenizeError("unterminated quote");
  if (inWord) words.push({ text: cur, quoted });
  return words;
}

/** Quotes a value for output when it would not survive re-tokenising as one word. */
export function quoteWord(s: string): string {
  if (s !== "" && /^[^\s"\\']+$/.test(s)) return s;
  return `"${s.replace(/(["\\])/g, "\\$1")}"`;
}
