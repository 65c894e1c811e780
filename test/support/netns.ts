import { randomBytes } from "node:crypto";
import { addNetns, delNetnsByPrefix } from "../../src/netlinux/netns.js";

/**
 * A per-test namespace scope: every namespace it makes shares a unique prefix, and cleanup() removes
 * all of them (also ones a crashed earlier step left). Names stay short: interface names max out at 15 chars.
 */
export class NetnsScope {
  readonly prefix: string;
  private made: string[] = [];
  constructor(tag = "t") {
    this.prefix = `pw${tag}${randomBytes(2).toString("hex")}-`;
  }
  async add(suffix: string): Promise<string> {
    const name = this.prefix + suffix;
    await addNetns(name);
    this.made.push(name);
    return name;
  }
  async cleanup(): Promise<void> {
    await delNetnsByPrefix(this.prefix);
  }
}
