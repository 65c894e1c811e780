/** The progress display of `podwire up`: one line per step with its duration (stderr, so stdout stays scriptable). */
export class Progress {
  private n = 0;
  private readonly t0 = Date.now();
  constructor(
    private readonly total: number,
    private readonly out: NodeJS.WritableStream = process.stderr,
  ) {}

  async step<T>(title: string, fn: (note: (s: string) => void) => Promise<T>): Promise<T> {
    this.n++;
    const start = Date.now();
    const tty = (this.out as { isTTY?: boolean }).isTTY === true;
    const head = `[${this.n}/${this.total}] ${title}`;
    if (tty) this.out.write(`${head} …`);
    let last = "";
    const note = (s: string) => {
      last = s;
      if (tty) this.out.write(`\r\x1b[K${head} … ${s}`);
    };
    try {
      const v = await fn(note);
      const secs = ((Date.now() - start) / 1000).toFixed(1);
      this.out.write(`${tty ? "\r\x1b[K" : ""}${head} ✓ ${secs}s${last ? ` (${last})` : ""}\n`);
      return v;
    } catch (e) {
      this.out.write(`${tty ? "\r\x1b[K" : ""}${head} ✗ ${(e as Error).message}\n`);
      throw e;
    }
  }

  elapsed(): string {
    return ((Date.now() - this.t0) / 1000).toFixed(1);
  }
}
