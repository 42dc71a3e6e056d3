import type { Command } from 'commander';
import { runDemo } from '../../demo/run-demo.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'build a lab network on this machine and show Postern at work; cleans up after itself',
    )
    .action(async () => {
      process.exitCode = await runDemo();
    });
}
