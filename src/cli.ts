// carebridge command line: `carebridge <command> [options]`.
import { parseArgs } from 'node:util';
import { BOARD_USER_HELP, runBoardUser } from './cli/board-user-command.ts';
import { DEMO_HELP, runDemo, runOfflineDemo } from './cli/demo-command.ts';
import { MAP_HELP, runMap } from './cli/map-command.ts';
import { OUTBOX_HELP, REPLAY_HELP, runOutbox, runReplay } from './cli/outbox-command.ts';
import { processIo, type Io } from './cli/output.ts';
import { SERVE_HELP, runServe } from './cli/serve-command.ts';
import { SYNC_HELP, runSync } from './cli/sync-command.ts';
import { VALIDATE_HELP, runValidate } from './cli/validate-command.ts';

export const HELP = `carebridge — carries a patient's care plan from the hospital to the home (FHIR R4)

Usage: carebridge <command> [options]

Commands:
  serve [--dev]              run the FHIR R4 server (CAREBRIDGE_CONFIG, PORT, CAREBRIDGE_DATABASE)
  demo [--url <url>]         a hospital-to-home transition over the HTTP API (--offline: the example plans)
  validate <file...>         validate transition plans or FHIR JSON (--json for OperationOutcomes)
  map <plan.json>            print the FHIR transaction Bundle a transition plan becomes
  outbox [--state <s>]       deliveries to peers and subscribers: waiting, dead, per destination
  replay <id>|--peer|--all   send dead deliveries again (--wait: follow them out, with progress)
  sync [--poll <peer>]       the EHR pollers' health and the outbox; --poll: poll an EHR now
  board-user hash            the scrypt hash of a board user's password (read from stdin)

Run "carebridge <command> --help" for a command's options and exit codes.
Exit codes: 0 success, 1 the input has errors, 2 bad usage.`;

type OptionValues = Record<string, boolean | string | undefined>;

const COMMANDS: Record<string, { help: string; run: (positionals: string[], flags: OptionValues, io: Io) => number | Promise<number>; options: string[]; stringOptions?: string[]; args: 'none' | 'one' | 'many' | 'any' }> = {
  serve: { help: SERVE_HELP, options: ['dev'], args: 'none', run: (_p, f, io) => runServe(io, process.env, { dev: f.dev === true }) },
  demo: {
    help: DEMO_HELP,
    options: ['in-process', 'offline'],
    stringOptions: ['url'],
    args: 'none',
    // --offline stays synchronous, as the command was before it spoke HTTP.
    run: (_p, f, io) => (f.offline === true ? runOfflineDemo(io) : runDemo(io, { url: typeof f.url === 'string' ? f.url : undefined, inProcess: f['in-process'] === true, offline: false })),
  },
  validate: { help: VALIDATE_HELP, options: ['json'], args: 'many', run: (p, f, io) => runValidate(p, f.json === true, io) },
  outbox: {
    help: OUTBOX_HELP,
    options: ['json'],
    stringOptions: ['peer', 'state', 'limit'],
    args: 'none',
    run: (_p, f, io) => runOutbox({ peer: f.peer as string | undefined, state: f.state as string | undefined, limit: f.limit as string | undefined, json: f.json === true }, io),
  },
  replay: {
    help: REPLAY_HELP,
    options: ['all', 'wait', 'json'],
    stringOptions: ['peer'],
    args: 'any',
    run: (p, f, io) => runReplay(p, { peer: f.peer as string | undefined, all: f.all === true, wait: f.wait === true, json: f.json === true }, io),
  },
  sync: {
    help: SYNC_HELP,
    options: ['json'],
    stringOptions: ['peer', 'poll'],
    args: 'none',
    run: (_p, f, io) => runSync({ peer: f.peer as string | undefined, poll: f.poll as string | undefined, json: f.json === true }, io),
  },
  map: { help: MAP_HELP, options: ['stable-ids'], args: 'one', run: (p, f, io) => runMap(p[0] as string, f['stable-ids'] === true, io) },
  'board-user': { help: BOARD_USER_HELP, options: ['json'], args: 'one', run: (p, f, io) => runBoardUser(p, f.json === true, io) },
};

export function main(argv: string[], io: Io = processIo): number | Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(HELP);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`Unknown command "${name}".\n\n${HELP}`);
    return 2;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    const options = Object.fromEntries([
      ...[...command.options, 'help'].map((o) => [o, { type: 'boolean' as const }]),
      ...(command.stringOptions ?? []).map((o) => [o, { type: 'string' as const }]),
    ]);
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (err) {
    io.err(`${(err as Error).message}\n\n${command.help}`);
    return 2;
  }
  if (parsed.values.help) {
    io.out(command.help);
    return 0;
  }
  const n = parsed.positionals.length;
  if ((command.args === 'none' && n > 0) || (command.args === 'one' && n !== 1) || (command.args === 'many' && n === 0)) {
    io.err(command.help);
    return 2;
  }
  return command.run(parsed.positionals, parsed.values as OptionValues, io);
}
