// The config file for commands that need its peers (sync --poll, backfill): CAREBRIDGE_CONFIG,
// read and checked as serve reads it; an EHR peer with a pull section picked by name.
import { ConfigError, loadConfig } from '../config/config.ts';
import type { PeerConfig } from '../config/peers.ts';
import { clockRulesOf } from '../config/clock.ts';
import type { WorkflowSettings } from '../workflow/write-rules.ts';
import { EXIT_FAILED, EXIT_USAGE } from './exit-codes.ts';
import type { Io } from './output.ts';

/** `workflow`: the config's TCM clock rules, so an EHR's writes polled from here meet the rules serve applies. */
export type PeersLoading = { peers: PeerConfig[]; peer: PeerConfig; workflow: WorkflowSettings; exit?: undefined } | { peers?: undefined; peer?: undefined; exit: number };

/** The config's peers and the polled EHR `name` among them; an exit code when there is none (2) or the file is wrong (1). */
export function loadPeers(io: Io, env: NodeJS.ProcessEnv, name: string, option: string): PeersLoading {
  if (!env.CAREBRIDGE_CONFIG) {
    io.err(`${option} needs the peers of CAREBRIDGE_CONFIG`);
    return { exit: EXIT_USAGE };
  }
  let peers: PeerConfig[];
  let workflow: WorkflowSettings;
  try {
    const config = loadConfig(env.CAREBRIDGE_CONFIG);
    peers = config.peers;
    workflow = { clockRules: clockRulesOf(config.clock) };
  } catch (err) {
    io.err(err instanceof ConfigError ? err.message : `Cannot read the config: ${(err as Error).message}`);
    return { exit: EXIT_FAILED };
  }
  const peer = peers.find((p) => p.name === name && p.kind === 'ehr' && p.pull && p.fhirBaseUrl);
  if (!peer) {
    io.err(`No EHR peer named "${name}" with a pull section in ${env.CAREBRIDGE_CONFIG}`);
    return { exit: EXIT_USAGE };
  }
  return { peers, peer, workflow };
}
