// carebridge command line: `carebridge <command> [options]`. One table of commands: the top-level
// help, option parsing, --help and the exit codes all come from it.
import { parseArgs } from 'node:util';
import { BOARD_USER_HELP, runBoardUser } from './cli/board-user-command.ts';
import { BACKFILL_HELP, runBackfill } from './cli/backfill-command.ts';
import { CLIENTS_ADD_HELP, CLIENTS_HELP, CLIENTS_KEYGEN_HELP, CLIENTS_LIST_HELP, runClientsAdd, runClientsKeygen, runClientsList } from './cli/clients-command.ts';
import { DEMO_HELP, runDemo, runOfflineDemo } from './cli/demo-command.ts';
import { EXIT_CODES_TABLE, EXIT_OK, EXIT_USAGE } from './cli/exit-codes.ts';
import { MAP_HELP, runMap } from './cli/map-command.ts';
import { MIGRATE_HELP, runMigrate } from './cli/migrate-command.ts';
import { OUTBOX_HELP, REPLAY_HELP, runOutbox, runReplay } from './cli/outbox-command.ts';
import { OUTBOX_PRUNE_HELP, runOutboxPrune } from './cli/outbox-prune-command.ts';
import { processIo, type Io } from './cli/output.ts';
import { SERVE_HELP, runServe } from './cli/serve-command.ts';
import { SYNC_HELP, runSync } from './cli/sync-command.ts';
import { VALIDATE_HELP, runValidate } from './cli/validate-command.ts';

type Flags = Record<string, boolean | string | undefined>;
const text = (flags: Flags, name: string): string | undefined => (typeof flags[name] === 'string' ? (flags[name] as string) : undefined);

export interface Command {
  /** How it is called and what it does, one line each, for the top-level help. */
  usage: string;
  summary: string;
  help: string;
  /** Boolean options (--help is every command's). */
  options?: string[];
  /** Options that take a value. */
  stringOptions?: string[];
  args?: 'none' | 'one' | 'many' | 'any';
  run?: (positionals: string[], flags: Flags, io: Io) => number | Promise<number>;
  /** A command of commands (`clients add`): the first argument names one. */
  subcommands?: Record<string, Command>;
}

export const COMMANDS: Record<string, Command> = {
  serve: { usage: 'serve [--dev]', summary: 'run the FHIR R4 server (CAREBRIDGE_CONFIG, PORT, CAREBRIDGE_DATABASE)', help: SERVE_HELP, options: ['dev'], run: (_p, f, io) => runServe(io, process.env, { dev: f.dev === true }) },
  demo: {
    usage: 'demo [--url <url>]',
    summary: 'a hospital-to-home transition over the HTTP API (--offline: the example plans)',
    help: DEMO_HELP,
    options: ['in-process', 'offline'],
    stringOptions: ['url'],
    // --offline stays synchronous, as the command was before it spoke HTTP.
    run: (_p, f, io) => (f.offline === true ? runOfflineDemo(io) : runDemo(io, { url: text(f, 'url'), inProcess: f['in-process'] === true, offline: false })),
  },
  validate: { usage: 'validate <file...>', summary: 'validate transition plans or FHIR JSON (--json for OperationOutcomes)', help: VALIDATE_HELP, options: ['json'], args: 'many', run: (p, f, io) => runValidate(p, f.json === true, io) },
  map: { usage: 'map <plan.json>', summary: 'print the FHIR transaction Bundle a transition plan becomes', help: MAP_HELP, options: ['stable-ids'], args: 'one', run: (p, f, io) => runMap(p[0] as string, f['stable-ids'] === true, io) },
  'board-user': { usage: 'board-user hash', summary: "the scrypt hash of a board user's password (read from stdin)", help: BOARD_USER_HELP, options: ['json'], args: 'one', run: (p, f, io) => runBoardUser(p, f.json === true, io) },
  migrate: { usage: 'migrate [--json]', summary: "bring the store's schema up to date, and say from which version to which", help: MIGRATE_HELP, options: ['json'], run: (_p, f, io) => runMigrate({ json: f.json === true }, io) },
  outbox: {
    usage: 'outbox [--state <s>]',
    summary: 'deliveries to peers and subscribers: waiting, dead, per destination (prune: delete old delivered ones)',
    help: `${OUTBOX_HELP}\n${OUTBOX_PRUNE_HELP}`,
    options: ['json'],
    stringOptions: ['peer', 'state', 'limit', 'older-than'],
    args: 'any',
    // `outbox prune` shares the command's options: the word decides, and each checks its own.
    run: (p, f, io) => outboxRun(p, f, io),
  },
  replay: {
    usage: 'replay <id>|--peer|--all',
    summary: 'send dead deliveries again (--wait: follow them out, with progress)',
    help: REPLAY_HELP,
    options: ['all', 'wait', 'json'],
    stringOptions: ['peer'],
    args: 'any',
    run: (p, f, io) => runReplay(p, { peer: text(f, 'peer'), all: f.all === true, wait: f.wait === true, json: f.json === true }, io),
  },
  sync: {
    usage: 'sync [--poll <peer>]',
    summary: "the EHR pollers' health and the outbox; --poll: poll an EHR now",
    help: SYNC_HELP,
    options: ['json'],
    stringOptions: ['peer', 'poll'],
    run: (_p, f, io) => runSync({ peer: text(f, 'peer'), poll: text(f, 'poll'), json: f.json === true }, io),
  },
  backfill: {
    usage: 'backfill --peer <p> --since <d>',
    summary: 'pull a date range from an EHR, with progress and ETA (the poller stays where it was)',
    help: BACKFILL_HELP,
    options: ['json'],
    stringOptions: ['peer', 'since', 'until'],
    run: (_p, f, io) => runBackfill({ peer: text(f, 'peer'), since: text(f, 'since'), until: text(f, 'until'), json: f.json === true }, io),
  },
  clients: {
    usage: 'clients add|list|keygen',
    summary: "register a client (print its config entry, or --write it), list them, make a key pair",
    help: CLIENTS_HELP,
    subcommands: {
      add: {
        usage: 'clients add',
        summary: "make a client's config entry",
        help: CLIENTS_ADD_HELP,
        stringOptions: ['name', 'client-id', 'role', 'organization', 'organization-name', 'scopes', 'jwks-url', 'jwks-file', 'keygen', 'write'],
        run: (_p, f, io) =>
          runClientsAdd(
            {
              name: text(f, 'name'),
              clientId: text(f, 'client-id'),
              role: text(f, 'role'),
              organization: text(f, 'organization'),
              organizationName: text(f, 'organization-name'),
              scopes: text(f, 'scopes'),
              jwksUrl: text(f, 'jwks-url'),
              jwksFile: text(f, 'jwks-file'),
              keygen: text(f, 'keygen'),
              write: text(f, 'write'),
            },
            io,
          ),
      },
      list: { usage: 'clients list', summary: 'the configured clients', help: CLIENTS_LIST_HELP, options: ['json'], stringOptions: ['config'], run: (_p, f, io) => runClientsList({ config: text(f, 'config'), json: f.json === true }, io) },
      keygen: { usage: 'clients keygen', summary: 'an ES384 key pair for a client', help: CLIENTS_KEYGEN_HELP, stringOptions: ['private-key-file', 'kid'], run: (_p, f, io) => runClientsKeygen({ privateKeyFile: text(f, 'private-key-file'), kid: text(f, 'kid') }, io) },
    },
  },
};

function outboxRun(positionals: string[], f: Flags, io: Io): number | Promise<number> {
  const prune = positionals[0] === 'prune';
  const misplaced = prune ? ['peer', 'state', 'limit'].find((o) => f[o] !== undefined) : f['older-than'] !== undefined ? 'older-than' : undefined;
  if (positionals.length > (prune ? 1 : 0) || misplaced) {
    io.err(`${misplaced ? `--${misplaced} does not go with ${prune ? 'outbox prune' : 'outbox'}\n\n` : ''}${prune ? OUTBOX_PRUNE_HELP : OUTBOX_HELP}`);
    return EXIT_USAGE;
  }
  if (prune) {
    return runOutboxPrune({ olderThan: text(f, 'older-than'), json: f.json === true }, io);
  }
  return runOutbox({ peer: text(f, 'peer'), state: text(f, 'state'), limit: text(f, 'limit'), json: f.json === true }, io);
}

const USAGE_WIDTH = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length)) + 2;

export const HELP = `carebridge — carries a patient's care plan from the hospital to the home (FHIR R4)

Usage: carebridge <command> [options]

Commands:
${Object.values(COMMANDS)
  .map((c) => `  ${c.usage.padEnd(USAGE_WIDTH)} ${c.summary}`)
  .join('\n')}

Run "carebridge <command> --help" for a command's options and exit codes.
${EXIT_CODES_TABLE}`;

function runCommand(command: Command, argv: string[], io: Io): number | Promise<number> {
  if (command.subcommands) {
    const [name, ...rest] = argv;
    if (name === undefined || name === '--help' || name === '-h') {
      (name === undefined ? io.err : io.out)(command.help);
      return name === undefined ? EXIT_USAGE : EXIT_OK;
    }
    const sub = command.subcommands[name];
    if (!sub) {
      io.err(`Unknown command "${name}".\n\n${command.help}`);
      return EXIT_USAGE;
    }
    return runCommand(sub, rest, io);
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    const options = Object.fromEntries([
      ...[...(command.options ?? []), 'help'].map((o) => [o, { type: 'boolean' as const }]),
      ...(command.stringOptions ?? []).map((o) => [o, { type: 'string' as const }]),
    ]);
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    io.err(`${(err as Error).message}\n\n${command.help}`);
    return EXIT_USAGE;
  }
  if (parsed.values.help) {
    io.out(command.help);
    return EXIT_OK;
  }
  const n = parsed.positionals.length;
  const args = command.args ?? 'none';
  if ((args === 'none' && n > 0) || (args === 'one' && n !== 1) || (args === 'many' && n === 0)) {
    io.err(command.help);
    return EXIT_USAGE;
  }
  return (command.run as NonNullable<Command['run']>)(parsed.positionals, parsed.values as Flags, io);
}

export function main(argv: string[], io: Io = processIo): number | Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(HELP);
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`Unknown command "${name}".\n\n${HELP}`);
    return EXIT_USAGE;
  }
  return runCommand(command, rest, io);
}
