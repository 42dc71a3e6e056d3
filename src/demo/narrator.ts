// Paced, plain output for `postern demo`: numbered steps, what each shows, and whether it worked.
export class Narrator {
  #step = 0;
  #failures: string[] = [];

  title(text: string): void {
    process.stdout.write(`\n${text}\n${'='.repeat(text.length)}\n`);
  }

  step(text: string): void {
    this.#step += 1;
    process.stdout.write(`\n[${this.#step}] ${text}\n`);
  }

  say(text: string): void {
    for (const line of text.trimEnd().split('\n')) process.stdout.write(`    ${line}\n`);
  }

  ok(text: string): void {
    process.stdout.write(`    ok: ${text}\n`);
  }

  fail(text: string): void {
    this.#failures.push(text);
    process.stdout.write(`    FAILED: ${text}\n`);
  }

  check(condition: boolean, good: string, bad: string): void {
    if (condition) this.ok(good);
    else this.fail(bad);
  }

  get failures(): readonly string[] {
    return this.#failures;
  }
}
