import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DURATION_TOO_LONG, MAX_DURATION_MS, parseDuration } from '../duration.js';
import type { InitOptions } from './commands/init.js';
import type { CliContext, CliIo, CommonOptions } from './context.js';
import { EXIT, exitCodeFor, type ExitCode } from './exit-codes.js';
import { createOutput } from './output.js';

// Commands are imported when run, so `--help` and usage errors do not load Docker, git and
// SQLite clients.
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Runs the berth CLI on `argv` (without node and script) and returns the exit code. */
export async function runCli(argv: string[], io: CliIo = {}): Promise<ExitCode> {
  let code: ExitCode = EXIT.ok;

  async function execute(
    options: CommonOptions,
    run: (ctx: CliContext) => Promise<ExitCode>,
  ): Promise<void> {
    // Loaded here, not at the top: the config loader (zod, YAML, the source kinds) is most of a
    // command's start-up time, and --version, --help and usage errors do not need it.
    const { createCliContext } = await import('./context.js');
    const ctx = createCliContext(options, io);
    try {
      code = await run(ctx);
    } catch (caught) {
      const { explainConfigError } = await import('./config-hint.js');
      const err = explainConfigError(caught, { config: options.config, env: ctx.env });
      ctx.out.fail(err);
      code = exitCodeFor(err);
    } finally {
      try {
        await ctx.close();
      } catch (err) {
        ctx.logger.warn({ err }, 'closing the app failed');
      }
    }
  }

  const program = buildProgram(execute, io);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    code = exitCodeFor(err);
    // Commander already printed its message; with --json the caller still gets a document.
    if (code !== EXIT.ok && argv.includes('--json')) {
      createOutput({ json: true, stdout: io.stdout, stderr: silentStream() }).fail(err);
    }
  }
  return code;
}

type Execute = (
  options: CommonOptions,
  run: (ctx: CliContext) => Promise<ExitCode>,
) => Promise<void>;

function buildProgram(execute: Execute, io: CliIo): Command {
  const program = new Command('berth')
    .description('GitOps reconciler for Docker Compose stacks')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .showHelpAfterError('(run berth help for usage)')
    .addHelpText(
      'after',
      [
        '',
        'Exit codes: 0 converged; 1 a stack failed or was rolled back (validate: a stack is',
        'invalid; secrets: an encrypted file does not open; status: a stack is BROKEN or',
        'unhealthy; or Docker, git or the state failed);',
        '2 usage or configuration error (healthcheck: 1 when the daemon does not answer, never 2).',
        'New here? berth init writes a berth.yaml for your repository.',
        'reconcile --once runs one pass; reconcile without --once runs the daemon.',
        'One berth process writes a data dir at a time: with a daemon running, commands that',
        'change something are sent to it over its control socket; otherwise they wait (--wait)',
        'for the data dir and exit 2 naming the process that holds it.',
        'Logs go to stderr at level warn unless --log-level or BERTH_LOG_LEVEL say otherwise.',
      ].join('\n'),
    )
    .configureOutput({
      writeOut: (text) => (io.stdout ?? process.stdout).write(text),
      writeErr: (text) => (io.stderr ?? process.stderr).write(text),
    });

  function command(name: string, description: string): Command {
    return program
      .command(name)
      .description(description)
      .option('-c, --config <file>', 'config file (default: $BERTH_CONFIG, else ./berth.yaml)')
      .option('--json', 'print one JSON document on stdout')
      .addOption(
        new Option(
          '--log-level <level>',
          'log level on stderr (default warn, or $BERTH_LOG_LEVEL)',
        ).choices(LOG_LEVELS),
      )
      .exitOverride();
  }

  /** Commands that change a data dir: one writer at a time (see src/cli/writer.ts). */
  function writer(name: string, description: string): Command {
    return command(name, description).option(
      '--wait <duration>',
      'how long to wait while another berth command holds the data dir (default 10s)',
      parseWait,
    );
  }

  command('init', 'write a commented berth.yaml (and a webhook secret) for your repository')
    .option('--git <url>', 'the repository berth clones (default: --path, a local folder)')
    .option('--branch <name>', 'the branch to follow with --git (default main)')
    .option('--path <dir>', 'a local repository used in place (default: the current folder)')
    .option('--paths <glob...>', 'stack folder globs (default: found in a local repository)')
    .option('--listen <host:port>', 'the daemon’s HTTP listener (default 127.0.0.1:7070)')
    .option('--force', 'overwrite an existing config and webhook secret')
    .action(async (options: CommonOptions & InitOptions) =>
      execute(options, async (ctx) =>
        (await import('./commands/init.js')).initCommand(ctx, options),
      ),
    );

  command(
    'healthcheck',
    'exit 0 when the daemon of the data dir answers, else 1 (for HEALTHCHECK)',
  ).action(async (options: CommonOptions) =>
    execute(options, async (ctx) =>
      (await import('./commands/healthcheck.js')).healthcheckCommand(ctx),
    ),
  );

  writer('reconcile', 'sync the source and deploy changed stacks')
    .option('--once', 'run one pass and exit')
    .option('--dry-run', 'print the plan and change nothing (one pass)')
    .option('--stack <name...>', 'only these stacks')
    .option('--source <name...>', 'only these sources (repeatable or comma-separated)')
    .action(
      async (
        options: CommonOptions & {
          once?: boolean;
          dryRun?: boolean;
          stack?: string[];
          source?: string[];
          wait?: number;
        },
      ) =>
        execute(options, async (ctx) => {
          // Plain `reconcile` is the continuous reconciler; --dry-run, --stack, --source are one-pass.
          const onePass =
            options.once === true ||
            options.dryRun === true ||
            options.stack !== undefined ||
            options.source !== undefined;
          if (!onePass) {
            ctx.out.note('reconcile without --once runs the daemon (berth daemon)');
            return (await import('./commands/daemon.js')).daemonCommand(ctx, {
              waitMs: options.wait,
            });
          }
          return (await import('./commands/reconcile.js')).reconcileCommand(ctx, {
            ...options,
            waitMs: options.wait,
          });
        }),
    );

  writer('daemon', 'reconcile continuously: schedule, webhooks, API, file watch').action(
    async (options: CommonOptions & { wait?: number }) =>
      execute(options, async (ctx) =>
        (await import('./commands/daemon.js')).daemonCommand(ctx, { waitMs: options.wait }),
      ),
  );

  command('status', 'show every stack: state, versions, health, last deployment').action(
    async (options: CommonOptions) =>
      execute(options, async (ctx) => (await import('./commands/status.js')).statusCommand(ctx)),
  );

  command('history', "show a stack's deployments and health history")
    .argument('<stack>', 'stack name')
    .option('-v, --verbose', 'include each deployment’s journal and log')
    .option('-n, --limit <count>', 'how many entries', parseCount, 20)
    .action(async (stack: string, options: CommonOptions & { verbose?: boolean; limit?: number }) =>
      execute(options, async (ctx) =>
        (await import('./commands/history.js')).historyCommand(ctx, stack, options),
      ),
    );

  writer(
    'rollback',
    'deploy the last good version (or --to an earlier one) again; the version rolled away from is marked bad',
  )
    .argument('<stack>', 'stack name')
    .option('--to <version>', 'a version from the stack’s history')
    .action(async (stack: string, options: CommonOptions & { to?: string; wait?: number }) =>
      execute(options, async (ctx) =>
        (await import('./commands/rollback.js')).rollbackCommand(ctx, stack, {
          ...options,
          waitMs: options.wait,
        }),
      ),
    );

  writer('unmark', 'clear bad marks so a version may be deployed again')
    .argument('<stack>', 'stack name')
    .argument('[version]', 'version (or unique prefix); all of the stack’s marks when omitted')
    .action(
      async (
        stack: string,
        version: string | undefined,
        options: CommonOptions & { wait?: number },
      ) =>
        execute(options, async (ctx) =>
          (await import('./commands/unmark.js')).unmarkCommand(ctx, stack, version, {
            waitMs: options.wait,
          }),
        ),
    );

  command('validate', 'check every stack and settings file without touching Docker')
    .argument('[dir]', 'folder to check (default: the configured source)')
    .action(async (dir: string | undefined, options: CommonOptions) =>
      execute(options, async (ctx) =>
        (await import('./commands/validate.js')).validateCommand(ctx, dir),
      ),
    );

  command('config', 'print each stack as berth deploys it, in Compose’s canonical form')
    .argument('[stack]', 'stack name (default: every stack)')
    .addOption(
      new Option('--format <format>', 'yaml or json (--json: json)').choices(['yaml', 'json']),
    )
    .addHelpText('after', '\nSecrets are always masked (********); no option prints them.')
    .action(
      async (stack: string | undefined, options: CommonOptions & { format?: 'yaml' | 'json' }) =>
        // --json is --format json here; errors of stacks that do not load stay on stderr.
        execute({ ...options, json: false }, async (ctx) =>
          (await import('./commands/config.js')).configCommand(
            ctx,
            stack,
            options.format ?? (options.json === true ? 'json' : 'yaml'),
          ),
        ),
    );

  command(
    'secrets',
    'list the encrypted files of each stack, how the stack uses them and whether the keys open them',
  )
    .argument('[stack]', 'stack name (default: every stack)')
    .action(async (stack: string | undefined, options: CommonOptions) =>
      execute(options, async (ctx) =>
        (await import('./commands/secrets.js')).secretsCommand(ctx, stack),
      ),
    );

  writer('down', 'bring a stack down (volumes kept)')
    .argument('<stack>', 'stack name')
    .action(async (stack: string, options: CommonOptions & { wait?: number }) =>
      execute(options, async (ctx) =>
        (await import('./commands/down.js')).downCommand(ctx, stack, { waitMs: options.wait }),
      ),
    );

  command('diff', 'show what differs between the checkout and what runs')
    .argument('[stack]', 'stack name (default: every stack)')
    .action(async (stack: string | undefined, options: CommonOptions) =>
      execute(options, async (ctx) => (await import('./commands/diff.js')).diffCommand(ctx, stack)),
    );

  writer('suspend', 'stop reconciling a stack; changes made by hand are left alone')
    .argument('<stack>', 'stack name')
    .action(async (stack: string, options: CommonOptions & { wait?: number }) =>
      execute(options, async (ctx) =>
        (await import('./commands/suspend.js')).suspendCommand(ctx, stack, {
          waitMs: options.wait,
        }),
      ),
    );

  writer('resume', 'reconcile a suspended stack again from the next pass on')
    .argument('<stack>', 'stack name')
    .action(async (stack: string, options: CommonOptions & { wait?: number }) =>
      execute(options, async (ctx) =>
        (await import('./commands/resume.js')).resumeCommand(ctx, stack, { waitMs: options.wait }),
      ),
    );

  return program;
}

function parseWait(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError('expected a duration like 30s or 2m');
  if (ms > MAX_DURATION_MS) throw new InvalidArgumentError(DURATION_TOO_LONG);
  return ms;
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new InvalidArgumentError('expected a positive whole number');
  return n;
}

function silentStream(): NodeJS.WriteStream {
  return { write: () => true } as unknown as NodeJS.WriteStream;
}

/** src/cli/ and dist/cli/ both sit two levels below package.json. */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
